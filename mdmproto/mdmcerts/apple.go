package mdmcerts

import (
	"crypto/x509"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/orchardmdm/orchard/mdmproto"
)

// appleFiles holds Apple's public WWDR intermediate and root certificates
// (see apple/README.md).
//
//go:embed apple
var appleFiles embed.FS

// AppleChain returns the Apple certificates compiled in: intermediates first,
// the root last, the order the push request chain takes.
func AppleChain() ([]*x509.Certificate, error) {
	var all []*x509.Certificate
	err := fs.WalkDir(appleFiles, "apple", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".pem") {
			return err
		}
		data, err := appleFiles.ReadFile(path)
		if err != nil {
			return err
		}
		certs, err := mdmproto.ParseCertificates(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		all = append(all, certs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return OrderChain(all), nil
}

// OrderChain puts intermediates before self-signed roots.
func OrderChain(certs []*x509.Certificate) []*x509.Certificate {
	out := slices.Clone(certs)
	slices.SortStableFunc(out, func(a, b *x509.Certificate) int {
		return boolInt(mdmproto.SelfSigned(a)) - boolInt(mdmproto.SelfSigned(b))
	})
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
