package mdmproto

import "time"

// DaysUntil counts whole days from now until t (a certificate or token
// expiry); negative once t has passed.
func DaysUntil(t, now time.Time) int {
	d := t.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}
