package mdmproto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func profileXML(identifier, top string, uuids ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>PayloadType</key><string>Configuration</string>`)
	if identifier != "" {
		b.WriteString(`<key>PayloadIdentifier</key><string>` + identifier + `</string>`)
	}
	b.WriteString(`<key>PayloadUUID</key><string>` + top + `</string><key>PayloadDisplayName</key><string>Wi-Fi</string><key>PayloadContent</key><array>`)
	for _, u := range uuids {
		b.WriteString(`<dict><key>PayloadType</key><string>com.apple.wifi.managed</string><key>PayloadUUID</key><string>` + u + `</string></dict>`)
	}
	b.WriteString(`</array></dict></plist>`)
	return b.String()
}

func TestParseConfigProfile(t *testing.T) {
	p, err := ParseConfigProfile([]byte(profileXML("com.example.wifi", "A", "B", "C")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Identifier != "com.example.wifi" || p.DisplayName != "Wi-Fi" || p.Scope != "User" ||
		len(p.PayloadTypes) != 2 || p.PayloadTypes[0] != "com.apple.wifi.managed" || len(p.Hash) != 64 || p.Signer != nil {
		t.Fatalf("parsed %+v", p)
	}
	for name, raw := range map[string]string{
		"not a plist":       "hello",
		"no identifier":     profileXML("", "A", "B"),
		"duplicate uuids":   profileXML("x", "A", "B", "b"),
		"top uuid reused":   profileXML("x", "A", "a"),
		"too large":         strings.Repeat(" ", MaxConfigProfileSize+1),
		"not configuration": strings.Replace(profileXML("x", "A"), "<string>Configuration</string>", "<string>Other</string>", 1),
	} {
		if _, err := ParseConfigProfile([]byte(raw)); !errors.Is(err, ErrBadProfile) {
			t.Errorf("%s: %v, want ErrBadProfile", name, err)
		}
	}
}

func TestParseSignedConfigProfile(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Profile Signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	plain := []byte(profileXML("com.example.signed", "A", "B"))
	signed, err := SignAttached(plain, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseConfigProfile(signed)
	if err != nil {
		t.Fatal(err)
	}
	if p.Signer == nil || p.Signer.Subject.CommonName != "Profile Signer" || string(p.Content) != string(plain) {
		t.Fatalf("signed profile parsed as %+v", p)
	}
	tampered := append([]byte{}, signed...)
	i := strings.Index(string(tampered), "com.example.signed")
	tampered[i] = 'C'
	if _, err := ParseConfigProfile(tampered); !errors.Is(err, ErrBadProfile) {
		t.Fatalf("tampered signed profile: %v", err)
	}
}
