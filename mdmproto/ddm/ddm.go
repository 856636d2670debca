// Package ddm is Apple's declarative device management protocol as carried
// by the MDM check-in channel (DeclarativeManagement messages): the JSON
// documents of the tokens, declaration-items, declaration and status
// endpoints (apple/device-management declarative/protocol and status).
package ddm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The endpoints a device asks for in a DeclarativeManagement check-in.
const (
	EndpointTokens           = "tokens"
	EndpointDeclarationItems = "declaration-items"
	EndpointStatus           = "status"
	endpointDeclaration      = "declaration/"
)

// The kinds of declaration: the second part of their Type, and the path
// part of declaration/<kind>/<identifier>.
const (
	KindActivation    = "activation"
	KindConfiguration = "configuration"
	KindAsset         = "asset"
	KindManagement    = "management"
)

// ErrMalformed: a request or status report that does not parse.
var ErrMalformed = errors.New("malformed declarative management request")

// SyncTokens tell a device whether its declarations are current.
type SyncTokens struct {
	DeclarationsToken string
	Timestamp         time.Time
}

// TokensResponse answers the tokens endpoint; it is also the Data of a
// DeclarativeManagement command.
type TokensResponse struct {
	SyncTokens SyncTokens
}

// ManifestItem names a declaration and its current ServerToken.
type ManifestItem struct {
	Identifier  string
	ServerToken string
}

// ManifestDeclarations lists declarations by kind.
type ManifestDeclarations struct {
	Activations    []ManifestItem
	Configurations []ManifestItem
	Assets         []ManifestItem
	Management     []ManifestItem
}

// DeclarationItems answers the declaration-items endpoint.
type DeclarationItems struct {
	Declarations      ManifestDeclarations
	DeclarationsToken string
}

// Declaration is one declaration as a device fetches it.
type Declaration struct {
	Type        string
	Identifier  string
	ServerToken string
	Payload     map[string]any
}

// NewDeclaration makes a declaration whose ServerToken is computed over its
// whole content, so it changes whenever the content does (as Apple requires).
func NewDeclaration(typ, identifier string, payload map[string]any) Declaration {
	d := Declaration{Type: typ, Identifier: identifier, Payload: payload}
	d.ServerToken = Token(d)
	return d
}

// Kind is the declaration's kind (com.apple.<kind>.<name>).
func (d *Declaration) Kind() string {
	parts := strings.SplitN(d.Type, ".", 4)
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// Token is a short hash of v's JSON: equal content, equal token.
func Token(v any) string {
	b, _ := json.Marshal(v) // maps marshal with sorted keys: the token is stable
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Items lists declarations by kind, with the token of the whole set.
func Items(decls []Declaration) DeclarationItems {
	var m ManifestDeclarations
	for _, d := range decls {
		item := ManifestItem{Identifier: d.Identifier, ServerToken: d.ServerToken}
		switch d.Kind() {
		case KindActivation:
			m.Activations = append(m.Activations, item)
		case KindConfiguration:
			m.Configurations = append(m.Configurations, item)
		case KindAsset:
			m.Assets = append(m.Assets, item)
		case KindManagement:
			m.Management = append(m.Management, item)
		}
	}
	for _, list := range []*[]ManifestItem{&m.Activations, &m.Configurations, &m.Assets, &m.Management} {
		if *list == nil {
			*list = []ManifestItem{} // Apple's clients expect arrays, never null
		}
		slices.SortFunc(*list, func(a, b ManifestItem) int { return strings.Compare(a.Identifier, b.Identifier) })
	}
	return DeclarationItems{Declarations: m, DeclarationsToken: Token(m)}
}

// Request is what a DeclarativeManagement check-in asks for.
type Request struct {
	Endpoint string
	// Kind and Identifier name the declaration of a declaration/ request.
	Kind, Identifier string
}

// ParseEndpoint reads a check-in's Endpoint.
func ParseEndpoint(endpoint string) (Request, error) {
	switch endpoint {
	case EndpointTokens, EndpointDeclarationItems, EndpointStatus:
		return Request{Endpoint: endpoint}, nil
	}
	rest, ok := strings.CutPrefix(endpoint, endpointDeclaration)
	kind, identifier, found := strings.Cut(rest, "/")
	if !ok || !found || identifier == "" || len(identifier) > 512 {
		return Request{}, fmt.Errorf("%w: unknown endpoint %q", ErrMalformed, clip(endpoint))
	}
	switch kind {
	case KindActivation, KindConfiguration, KindAsset, KindManagement:
		return Request{Endpoint: "declaration", Kind: kind, Identifier: identifier}, nil
	}
	return Request{}, fmt.Errorf("%w: unknown declaration kind %q", ErrMalformed, clip(kind))
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ErrUnknownDeclaration: the device asked for a declaration (or asset) it
// has not been given.
var ErrUnknownDeclaration = errors.New("unknown declaration")

// ProfileAssetPath is where a device fetches, with its identity, a profile
// that a legacy-profile declaration names: ProfileAssetPath + profile id.
const ProfileAssetPath = "/mdm/profiles/"
