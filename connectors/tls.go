package connectors

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CAPool reads a ca_file setting: a PEM bundle trusted on its own, or, with
// system, on top of the system roots (a TLS-inspecting proxy's CA). Errors
// wrap ErrInvalid and name the setting.
func CAPool(file string, system bool) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w: %v", ErrInvalid, err)
	}
	pool := x509.NewCertPool()
	if system {
		if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		}
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate: %w", file, ErrInvalid)
	}
	return pool, nil
}
