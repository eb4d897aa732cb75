package subject

import "testing"

func BenchmarkAppendNamePlain(b *testing.B) {
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendName(buf[:0], prefix, "devices/0000042/sensor/telemetry/temp")
	}
}

func BenchmarkAppendNameEscaped(b *testing.B) {
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendName(buf[:0], prefix, "site a/b.c//température/*")
	}
}

func BenchmarkParseNamePlain(b *testing.B) {
	subj := Name(prefix, "devices/0000042/sensor/telemetry/temp")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseName(prefix, subj); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNameEscaped(b *testing.B) {
	subj := Name(prefix, "site a/b.c//température/*")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseName(prefix, subj); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Filter(prefix, "devices/+/sensor/telemetry/#")
	}
}
