package main

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/orchardmdm/orchard/mdmproto/mdmcerts"

	"github.com/orchardmdm/orchard/mdmproto"
)

const mdmcertsUsage = `usage: orchard mdmcerts -d DIR [flags] init [--cn NAME] [--email EMAIL] [--country CC]
       orchard mdmcerts -d DIR [flags] req COUNTRYCODE
       orchard mdmcerts -d DIR [flags] sign-req CSR

  init      make vendor.key (encrypted) and vendor.csr for Apple's developer portal;
            save the certificate Apple issues as DIR/vendor.crt
  req       make push.key (encrypted), push.csr and push.b64 signed with the vendor key;
            upload push.b64 to Apple's Push Certificates Portal
  sign-req  sign a push CSR made elsewhere into DIR/push.b64

Passwords are read from the terminal, from --password-file (vendor key) and
--push-password-file (push key), or one per line from standard input.
`

// mdmcertsCommand is Zentral's mdmcerts: the files Apple's portals need.
func mdmcertsCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var dir, passwordFile, pushPasswordFile, chainFile, cn, email, country string
	fs := newFlagSet("mdmcerts", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, mdmcertsUsage); fs.PrintDefaults() }
	fs.StringVar(&dir, "d", "", "working directory")
	fs.StringVar(&passwordFile, "password-file", "", "file whose first line is the vendor key password")
	fs.StringVar(&pushPasswordFile, "push-password-file", "", "file whose first line is the push key password (req)")
	fs.StringVar(&chainFile, "apple-chain", "", "PEM file with Apple's WWDR intermediate and root (default: the compiled-in certificates)")
	fs.StringVar(&cn, "cn", "MDM Vendor", "common name of the vendor request (init)")
	fs.StringVar(&email, "email", "", "email address of the vendor request (init)")
	fs.StringVar(&country, "country", "US", "country code of the vendor request (init)")
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if dir == "" || len(args) == 0 {
		fmt.Fprint(stderr, mdmcertsUsage)
		return errUsage
	}
	pw := passwords{in: bufio.NewReader(stdin), stdin: stdin, stderr: stderr}
	d := mdmcerts.Dir(dir)
	switch {
	case args[0] == "init" && len(args) == 1:
		password, err := pw.read("vendor key password", passwordFile, true)
		if err != nil {
			return err
		}
		if err := d.Init(password, cn, email, country); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s and %s in %s: upload vendor.csr to Apple's developer portal (MDM CSR) and save the certificate as %s\n",
			mdmcerts.VendorKeyFile, mdmcerts.VendorCSRFile, dir, mdmcerts.VendorCertFile)
		return nil
	case args[0] == "req" && len(args) == 2:
		return mdmcertsReq(d, args[1], chainFile, passwordFile, pushPasswordFile, pw, stdout)
	case args[0] == "sign-req" && len(args) == 2:
		return mdmcertsSignReq(d, args[1], chainFile, passwordFile, pw, stdout)
	}
	fmt.Fprint(stderr, mdmcertsUsage)
	return errUsage
}

func mdmcertsReq(d mdmcerts.Dir, country, chainFile, passwordFile, pushPasswordFile string, pw passwords, stdout io.Writer) error {
	chain, err := appleChain(chainFile)
	if err != nil {
		return err
	}
	vendorPassword, err := pw.read("vendor key password", passwordFile, false)
	if err != nil {
		return err
	}
	pushPassword, err := pw.read("new push key password", pushPasswordFile, true)
	if err != nil {
		return err
	}
	if err := d.Req(country, vendorPassword, pushPassword, chain); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s and %s in %s: upload push.b64 to Apple's Push Certificates Portal "+
		"(Renew for an existing certificate), then upload the certificate and push.key to orchard\n",
		mdmcerts.PushKeyFile, mdmcerts.PushCSRFile, mdmcerts.PushRequestFile, d)
	return nil
}

func mdmcertsSignReq(d mdmcerts.Dir, csrFile, chainFile, passwordFile string, pw passwords, stdout io.Writer) error {
	chain, err := appleChain(chainFile)
	if err != nil {
		return err
	}
	csr, err := os.ReadFile(csrFile)
	if err != nil {
		return err
	}
	vendorPassword, err := pw.read("vendor key password", passwordFile, false)
	if err != nil {
		return err
	}
	if err := d.SignReq(csr, vendorPassword, chain); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s in %s: upload it to Apple's Push Certificates Portal\n", mdmcerts.PushRequestFile, d)
	return nil
}

// parseInterspersed parses flags wherever they are, before or after the
// subcommand and its arguments, and returns the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// appleChain is the --apple-chain file, or the certificates compiled in.
func appleChain(file string) ([]*x509.Certificate, error) {
	if file == "" {
		return mdmcerts.AppleChain()
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	certs, err := mdmproto.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return mdmcerts.OrderChain(certs), nil
}

// passwords reads passwords from files, the terminal (without echo) or,
// for scripts, one line each from standard input.
type passwords struct {
	in     *bufio.Reader
	stdin  io.Reader
	stderr io.Writer
}

func (p passwords) read(what, file string, confirm bool) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return firstLine(data), nil
	}
	if f, ok := p.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return p.fromTerminal(int(f.Fd()), what, confirm)
	}
	line, err := p.in.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return nil, fmt.Errorf("read the %s from standard input: %w", what, err)
	}
	return firstLine([]byte(line)), nil
}

func (p passwords) fromTerminal(fd int, what string, confirm bool) ([]byte, error) {
	fmt.Fprintf(p.stderr, "%s: ", what)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(p.stderr)
	if err != nil || !confirm {
		return pw, err
	}
	fmt.Fprintf(p.stderr, "%s again: ", what)
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(p.stderr)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("the passwords differ")
	}
	return pw, nil
}

func firstLine(data []byte) []byte {
	line, _, _ := strings.Cut(string(data), "\n")
	return []byte(strings.TrimRight(line, "\r"))
}
