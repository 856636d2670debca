//go:build tools

package tools

import (
	_ "github.com/99designs/gqlgen"
	_ "github.com/dghubble/oauth1"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/micromdm/plist"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/riverqueue/river"
	_ "github.com/riverqueue/river/riverdriver/riverpgxv5"
	_ "github.com/riverqueue/river/rivermigrate"
	_ "github.com/sideshow/apns2"
	_ "github.com/smallstep/pkcs7"
	_ "github.com/smallstep/scep"
	_ "github.com/vikstrous/dataloadgen"
)
