package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"sync"

	"github.com/orchardmdm/orchard/mdmproto/endpoint"
	"github.com/orchardmdm/orchard/mdmproto/scep"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

// embeddedCASigner signs configuration profiles with the embedded SCEP CA,
// as enrollment profiles are; loaded once, on first use.
func embeddedCASigner(s *store.Store) service.ProfileSigner {
	var (
		mu sync.Mutex
		ca *scep.CA
	)
	return func(ctx context.Context) (*x509.Certificate, crypto.PrivateKey, error) {
		mu.Lock()
		defer mu.Unlock()
		if ca == nil {
			loaded, err := endpoint.LoadCA(ctx, s)
			if err != nil {
				return nil, nil, err
			}
			ca = loaded
		}
		return ca.Cert, ca.Key, nil
	}
}
