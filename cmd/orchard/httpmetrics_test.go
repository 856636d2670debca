package main

import "testing"

// Route labels are paths: the method has its own label, so "GET /healthz"
// and "/" are of one style and the label set stays the mux's patterns.
func TestRouteLabelsArePaths(t *testing.T) {
	for pattern, want := range map[string]string{"GET /healthz": "/healthz", "/": "/", "/enroll/{secret}": "/enroll/{secret}",
		"GET /metrics": "/metrics"} {
		if got := routeLabel(pattern); got != want {
			t.Errorf("routeLabel(%q) = %q, want %q", pattern, got, want)
		}
	}
}
