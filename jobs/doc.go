// Package jobs runs orchard's slow and remote work as River jobs on PostgreSQL,
// and fans job events out to every orchard process through LISTEN/NOTIFY.
package jobs
