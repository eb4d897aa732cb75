// Package mqtttest holds test support for the MQTT codec: byte-exact
// packet fixtures annotated field by field, a table of malformed inputs
// with the reason code and spec rule each must produce, packets the
// encoder must refuse, and Encode, which turns packets into the byte stream
// a client would send. The encode, decode, fuzz and command tests share
// these tables, so one fixture proves both directions. It is not
// production code.
package mqtttest
