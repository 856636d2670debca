// Package store keeps orchard's state in PostgreSQL: migrations, queries and sealed secrets.
package store
