package main

import (
	"strings"
	"testing"
)

func TestSoftwareUpdateClientConfig(t *testing.T) {
	if _, err := newSoftwareUpdateClient("https://gdmf.apple.com"); err != nil {
		t.Errorf("Apple's host with the shipped root: %v", err)
	}
	if _, err := newSoftwareUpdateClient("http://127.0.0.1:8091"); err != nil {
		t.Errorf("local simulator: %v", err)
	}
	if _, err := newSoftwareUpdateClient("http://catalog.example.com"); err == nil || !strings.Contains(err.Error(), "https required") {
		t.Errorf("plain http to a remote host: %v", err)
	}
	if _, err := simCatalog("/nonexistent/catalog.json"); err == nil {
		t.Error("missing catalog file accepted")
	}
}
