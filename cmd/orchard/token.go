package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/orchardmdm/orchard/graph/auth"
	"github.com/orchardmdm/orchard/service"
	"github.com/orchardmdm/orchard/store"
)

const tokenUsage = `usage: orchard token create --name NAME --permission PERM [--permission PERM ...] [--ttl 2160h]
       orchard token revoke (--jti ID | --name NAME)
       orchard token list

  create  issue a token: its JWT goes to standard output, its id to standard error
  revoke  revoke a token by id, or every token with a name, in every process at once
  list    every token on record: name, id, permissions, expiry, revocation

These commands act on an existing installation: run them where orchard serve keeps
its data (or pass its --data-dir, or its --database-url and --secret-key).
Run "orchard token <command> --help" for a command's flags.
`

// maxTokenTTL keeps expiry dates sensible (and far from time overflow).
const maxTokenTTL = 10 * 365 * 24 * time.Hour

// tokenArgs are the arguments of a token subcommand.
type tokenArgs struct {
	cfg   Config
	name  string
	jti   string
	perms stringList
	ttl   time.Duration
}

func tokenCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if done, err := groupHelp(args, tokenUsage, []string{"create", "revoke", "list"}, stdout, stderr); done {
		return err
	}
	var a tokenArgs
	if err := parseTokenArgs(args[0], args[1:], &a, stderr); err != nil {
		return err
	}
	logger := newLogger(stderr, a.cfg.LogLevel, a.cfg.LogFormat)
	db, err := openMigrated(ctx, &a.cfg, logger, existingDataDir)
	if err != nil {
		return err
	}
	defer db.close(context.WithoutCancel(ctx))
	svc, err := newService(&a.cfg, db.store, logger, nil, nil)
	if err != nil {
		return err
	}
	switch args[0] {
	case "revoke":
		n, err := svc.RevokeAPITokens(ctx, "cli", a.jti, a.name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked %d token(s)\n", n)
		return nil
	case "list":
		return listTokens(ctx, db.store, stdout)
	}
	return createToken(ctx, db.store, svc, &a, stdout, stderr)
}

// parseTokenArgs reads and checks every argument before anything starts,
// so a typo costs no cluster start and no migration.
func parseTokenArgs(sub string, args []string, a *tokenArgs, stderr io.Writer) error {
	fs := newFlagSet("token "+sub, stderr)
	bindDatabase(fs, &a.cfg, "warn")
	switch sub {
	case "create":
		fs.StringVar(&a.name, "name", "", "who or what the token is for (its subject, and the audit trail's)")
		fs.Var(&a.perms, "permission", "a permission (repeatable, or comma-separated); mdm.* grants all. Known: "+
			strings.Join(auth.KnownPermissions(), ", "))
		fs.DurationVar(&a.ttl, "ttl", auth.DefaultTTL, "how long the token is valid")
	case "revoke":
		fs.StringVar(&a.jti, "jti", "", "the id of the token to revoke (token list shows it)")
		fs.StringVar(&a.name, "name", "", "revoke every token issued with this name")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token %s: unexpected argument %q", sub, fs.Arg(0))
	}
	switch sub {
	case "create":
		// The rules createAPIToken holds names to, so both keep the audit trail readable.
		if err := auth.CheckTokenName(a.name); err != nil {
			return fmt.Errorf("--name: %w", err)
		}
		if err := auth.ValidatePermissions(a.perms); err != nil {
			return err
		}
		if a.ttl <= 0 || a.ttl > maxTokenTTL {
			return fmt.Errorf("--ttl must be positive and at most %s, not %s", maxTokenTTL, a.ttl)
		}
	case "revoke":
		if a.name == "" && a.jti == "" {
			return errors.New("token revoke needs --jti or --name")
		}
	}
	return nil
}

func createToken(ctx context.Context, s *store.Store, svc *service.Service, a *tokenArgs, stdout, stderr io.Writer) error {
	tokens, err := auth.NewTokens(ctx, s, svc)
	if err != nil {
		return err
	}
	signed, rec, err := tokens.Issue(ctx, a.name, a.perms, a.ttl, "cli")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "token %s for %q, expires %s, permissions %s\n", rec.JTI, rec.Name,
		rec.ExpiresAt.Format(time.RFC3339), strings.Join(rec.Permissions, ","))
	fmt.Fprintln(stdout, signed)
	return nil
}

func listTokens(ctx context.Context, s *store.Store, stdout io.Writer) error {
	list, err := s.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "NAME\tID\tPERMISSIONS\tEXPIRES\tREVOKED\n")
	for _, t := range list {
		revoked := "-"
		if t.RevokedAt != nil {
			revoked = t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", printable(t.Name), t.JTI, strings.Join(t.Permissions, ","),
			t.ExpiresAt.UTC().Format(time.RFC3339), revoked)
	}
	return w.Flush()
}

// printable quotes a name that would break the table (older records were
// not checked for control characters or tabs).
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\t' }) >= 0 {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// groupHelp handles a command group's own arguments: help (exit 0, usage on
// standard output) and a missing or unknown subcommand (exit 2, usage on
// standard error). done is false when args name a known subcommand.
func groupHelp(args []string, usage string, subs []string, stdout, stderr io.Writer) (done bool, err error) {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return true, nil
		}
		for _, s := range subs {
			if args[0] == s {
				return false, nil
			}
		}
		fmt.Fprintf(stderr, "unknown subcommand %q\n", args[0])
	}
	fmt.Fprint(stderr, usage)
	return true, errUsage
}
