package scep

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/smallstep/pkcs7"
	"github.com/smallstep/scep"
)

// ErrBadChallenge is what an Enroller returns for a wrong, used or expired challenge.
var ErrBadChallenge = errors.New("scep: challenge is unknown, used or expired")

// Enroller consumes a challenge and records the certificate issue makes,
// atomically: either both happen or neither.
type Enroller interface {
	Enroll(ctx context.Context, challenge string, issue func() (*x509.Certificate, error)) error
}

// maxMessage bounds a PKIOperation body; a CSR message is a few KiB.
const maxMessage = 64 << 10

func init() {
	// smallstep/scep encrypts its replies with pkcs7's package-wide default,
	// single DES, which is broken and which the caps below do not even
	// announce. AES-128-CBC is what devices that read "AES" in the caps expect.
	pkcs7.ContentEncryptionAlgorithm = pkcs7.EncryptionAlgorithmAES128CBC
}

// caps are the SCEP capabilities orchard announces (RFC 8894 section 3.5.2):
// SHA-256 and AES only, so no client is invited to use SHA-1 or 3DES.
const caps = "Renewal\nSHA-256\nAES\nSCEPStandard\nPOSTPKIOperation"

// Handler speaks SCEP: GetCACert, GetCACaps and PKIOperation (GET or POST).
func Handler(ca *CA, enroller Enroller, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch op := r.URL.Query().Get("operation"); op {
		case "GetCACert":
			w.Header().Set("Content-Type", "application/x-x509-ca-cert")
			_, _ = w.Write(ca.Cert.Raw)
		case "GetCACaps":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, caps)
		case "PKIOperation":
			msg, err := readMessage(w, r)
			if err != nil {
				logger.WarnContext(r.Context(), "scep: refused request", "reason", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			reply, err := pkiOperation(r.Context(), ca, enroller, msg, logger)
			var internal *internalError
			if errors.As(err, &internal) {
				logger.ErrorContext(r.Context(), "scep: request failed", "err", internal.err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			if err != nil {
				logger.WarnContext(r.Context(), "scep: refused request", "reason", err)
				http.Error(w, "bad SCEP message", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/x-pki-message")
			_, _ = w.Write(reply)
		default:
			http.Error(w, fmt.Sprintf("unknown SCEP operation %q", op), http.StatusBadRequest)
		}
	})
}

func readMessage(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method == http.MethodGet {
		msg, err := base64.StdEncoding.DecodeString(r.URL.Query().Get("message"))
		if err != nil {
			return nil, errors.New("message is not base64")
		}
		return msg, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessage))
	if err != nil {
		return nil, fmt.Errorf("read PKIOperation body: %w", err)
	}
	return body, nil
}

// pkiOperation answers a PKCSReq or RenewalReq: a CertRep with the issued
// certificate, or a signed failure when the challenge is refused.
func pkiOperation(ctx context.Context, ca *CA, enroller Enroller, raw []byte, logger *slog.Logger) ([]byte, error) {
	msg, err := scep.ParsePKIMessage(raw)
	if err != nil {
		return nil, fmt.Errorf("parse PKI message: %w", err)
	}
	if msg.MessageType != scep.PKCSReq && msg.MessageType != scep.RenewalReq {
		return nil, fmt.Errorf("unsupported message type %s", msg.MessageType)
	}
	if err := msg.DecryptPKIEnvelope(ca.Cert, ca.Key); err != nil {
		return nil, fmt.Errorf("decrypt PKI envelope: %w", err)
	}
	csr := msg.CSR
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR signature: %w", err)
	}
	if err := ca.CheckRequest(csr); err != nil {
		// Refused before the challenge is touched: it stays usable for a proper request.
		logger.WarnContext(ctx, "scep: request refused", "reason", err, "subject", csr.Subject.String(), "transaction", msg.TransactionID)
		return failure(msg, ca, scep.BadRequest)
	}
	var issued *x509.Certificate
	err = enroller.Enroll(ctx, msg.ChallengePassword, func() (*x509.Certificate, error) {
		c, err := ca.Issue(csr)
		issued = c
		return c, err
	})
	if errors.Is(err, ErrBadChallenge) {
		// The challenge value is a secret: log that it failed, never what it was.
		logger.WarnContext(ctx, "scep: challenge refused", "subject", csr.Subject.String(), "transaction", msg.TransactionID)
		return failure(msg, ca, scep.BadRequest)
	}
	if err != nil {
		return nil, &internalError{err}
	}
	rep, err := msg.Success(ca.Cert, ca.Key, issued)
	if err != nil {
		return nil, &internalError{fmt.Errorf("build CertRep: %w", err)}
	}
	logger.InfoContext(ctx, "scep: issued device certificate", "subject", issued.Subject.String(), "serial", issued.SerialNumber.String())
	return rep.Raw, nil
}

// failure is the signed CertRep that refuses a request.
func failure(msg *scep.PKIMessage, ca *CA, info scep.FailInfo) ([]byte, error) {
	rep, err := msg.Fail(ca.Cert, ca.Key, info)
	if err != nil {
		return nil, &internalError{err}
	}
	return rep.Raw, nil
}

// internalError is a failure of orchard, not of the request: 500, not 400.
type internalError struct{ err error }

func (e *internalError) Error() string { return e.err.Error() }
