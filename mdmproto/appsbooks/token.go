package appsbooks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxTokenFile bounds a content token file: Apple's are well under 1 KB.
const MaxTokenFile = 16 << 10

// ContentToken is a location's .vpptoken file: base64 of JSON
// {token, expDate, orgName}. The whole file text is the bearer sToken.
type ContentToken struct {
	// SToken is the file's text, sent as "Authorization: Bearer <sToken>".
	SToken  string
	Token   string
	ExpDate time.Time
	OrgName string
}

// ParseContentToken reads a .vpptoken file and refuses what is not one.
func ParseContentToken(file []byte) (ContentToken, error) {
	var t ContentToken
	if len(file) > MaxTokenFile {
		return t, fmt.Errorf("a content token is at most %d bytes; this is %d", MaxTokenFile, len(file))
	}
	text := string(bytes.TrimSpace(file))
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return t, errors.New("not a content token: it is not base64 (upload the .vpptoken file Apple Business Manager gives)")
	}
	var body struct {
		Token   string `json:"token"`
		ExpDate string `json:"expDate"`
		OrgName string `json:"orgName"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return t, errors.New("not a content token: its content is not JSON {token, expDate, orgName}")
	}
	if strings.TrimSpace(body.Token) == "" || body.ExpDate == "" {
		return t, errors.New("not a content token: token or expDate is missing")
	}
	exp, err := ParseAppleTime(body.ExpDate)
	if err != nil {
		return t, fmt.Errorf("not a content token: expDate %q is not a time", body.ExpDate)
	}
	return ContentToken{SToken: text, Token: body.Token, ExpDate: exp, OrgName: body.OrgName}, nil
}

// CheckExpiry refuses a token that has expired.
func (t ContentToken) CheckExpiry(now time.Time) error {
	if !t.ExpDate.After(now) {
		return fmt.Errorf("the content token expired on %s: download a new one from Apple Business Manager",
			t.ExpDate.UTC().Format(time.RFC3339))
	}
	return nil
}

// EncodeContentToken writes a .vpptoken file (for simulators and tests).
func EncodeContentToken(token, orgName string, exp time.Time) string {
	b, _ := json.Marshal(map[string]string{"token": token, "expDate": exp.UTC().Format(AppleTimeLayout), "orgName": orgName})
	return base64.StdEncoding.EncodeToString(b)
}
