package pluginsdk

import (
	"context"
	"strings"
	"testing"
)

func TestCombine(t *testing.T) {
	tests := []struct {
		name string
		def  Decision
		in   []Decision
		want Decision
	}{
		{"nothing falls back to default deny", Deny, nil, Deny},
		{"nothing falls back to default allow", Allow, nil, Allow},
		{"all abstain", Deny, []Decision{Abstain, Abstain}, Deny},
		{"one allow", Deny, []Decision{Abstain, Allow}, Allow},
		{"any deny wins over allows", Allow, []Decision{Allow, Deny, Allow}, Deny},
	}
	for _, tc := range tests {
		if got := Combine(tc.def, tc.in...); got != tc.want {
			t.Errorf("%s: Combine(%v, %v) = %v, want %v", tc.name, tc.def, tc.in, got, tc.want)
		}
	}
}

type aclPlugin struct{ prefix string }

func (p *aclPlugin) AuthorizeSubscribe(_ context.Context, c Client, filter string, _ byte) (Decision, error) {
	if strings.HasPrefix(filter, p.prefix+c.Device+"/") {
		return Allow, nil
	}
	return Deny, nil
}

var _ SubscribeAuthorizer = (*aclPlugin)(nil)

func TestRegisterAndLookup(t *testing.T) {
	Register(Info{ID: "test.acl", New: func() Plugin { return &aclPlugin{prefix: "devices/"} }})
	info, ok := Lookup("test.acl")
	if !ok {
		t.Fatal("Lookup(test.acl) found nothing after Register")
	}
	p := info.New()
	sa, ok := p.(SubscribeAuthorizer)
	if !ok {
		t.Fatal("plugin does not implement SubscribeAuthorizer")
	}
	c := Client{Tenant: "acme", Device: "d1"}
	if d, _ := sa.AuthorizeSubscribe(context.Background(), c, "devices/d1/cmd", 1); d != Allow {
		t.Errorf("own topic: %v, want allow", d)
	}
	if d, _ := sa.AuthorizeSubscribe(context.Background(), c, "devices/d2/cmd", 1); d != Deny {
		t.Errorf("other device's topic: %v, want deny", d)
	}
	if ids := IDs(); len(ids) == 0 || ids[0] != "test.acl" {
		t.Errorf("IDs() = %v, want [test.acl]", ids)
	}
}

func TestRegisterPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		info Info
	}{
		{"bad id", Info{ID: "NoNamespace", New: func() Plugin { return nil }}},
		{"nil constructor", Info{ID: "test.nilctor"}},
		{"duplicate", Info{ID: "test.dup", New: func() Plugin { return nil }}},
	} {
		if tc.name == "duplicate" {
			Register(tc.info)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", tc.name)
				}
			}()
			Register(tc.info)
		}()
	}
}
