package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	fencedBlock   = regexp.MustCompile("(?s)```[a-z]*\n(.*?)```")
	inlineCode    = regexp.MustCompile("`([^`\n]+)`")
	orchardCall   = regexp.MustCompile(`\borchard ([a-z][a-z|-]*)((?: [a-z][a-z|-]*)?)`)
	makeRunArgs   = regexp.MustCompile(`make run ARGS="([^"]*)"`)
	flagMention   = regexp.MustCompile(`(?:^|\s)--?([a-z][a-z0-9-]*)`)
	helpFlag      = regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`)
	variableName  = regexp.MustCompile(`\bORCHARD_[A-Z0-9_]+\b`)
	testVariables = []string{"ORCHARD_TEST_DATABASE_URL", "ORCHARD_SOAK_DURATION"}
	groups        = map[string]bool{"token": true, "db": true, "keys": true}
)

// readmeCode returns the README's code: fenced blocks line by line (shell
// continuations joined) and inline code spans.
func readmeCode(t *testing.T) (lines, spans []string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	for _, m := range fencedBlock.FindAllStringSubmatch(text, -1) {
		for _, line := range strings.Split(strings.ReplaceAll(m[1], "\\\n", " "), "\n") {
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i] // a shell comment is prose
			}
			lines = append(lines, line)
		}
	}
	for _, m := range inlineCode.FindAllStringSubmatch(fencedBlock.ReplaceAllString(text, ""), -1) {
		spans = append(spans, m[1])
	}
	return lines, spans
}

// helpOf runs `orchard args... --help`, which must succeed, and returns its text.
func helpOf(t *testing.T, cache map[string]string, args ...string) string {
	t.Helper()
	key := strings.Join(args, " ")
	if help, ok := cache[key]; ok {
		return help
	}
	code, stdout, stderr := runCLI(t, append(args, "--help")...)
	if code != 0 {
		t.Errorf("the README names `orchard %s`, but its --help exits %d:\n%s", key, code, stderr)
	}
	cache[key] = stdout + stderr
	return cache[key]
}

// TestReadmeNamesOnlyWhatExists checks every `orchard <command>`, every flag
// given to it or named alone, and every ORCHARD_* variable in the README
// against the real binary's --help.
func TestReadmeNamesOnlyWhatExists(t *testing.T) {
	lines, spans := readmeCode(t)
	cache := map[string]string{}
	allHelp := helpOf(t, cache, "serve")
	checkFlags := func(where, args, help string) {
		for _, m := range flagMention.FindAllStringSubmatch(args, -1) {
			if m[1] != "help" && m[1] != "h" && !slices.Contains(helpFlags(help), m[1]) {
				t.Errorf("the README gives -%s to %s, which has no such flag", m[1], where)
			}
		}
	}
	for _, code := range append(lines, spans...) {
		for _, m := range makeRunArgs.FindAllStringSubmatch(code, -1) {
			checkFlags("make run (orchard serve)", m[1], helpOf(t, cache, "serve"))
		}
		for _, loc := range orchardCall.FindAllStringSubmatchIndex(code, -1) {
			cmd, sub := code[loc[2]:loc[3]], strings.TrimSpace(code[loc[4]:loc[5]])
			var help string
			if groups[cmd] && sub != "" {
				for _, s := range strings.Split(sub, "|") {
					help += helpOf(t, cache, cmd, s)
				}
			} else {
				for _, c := range strings.Split(cmd, "|") {
					help += helpOf(t, cache, c)
				}
			}
			allHelp += help
			checkFlags("orchard "+strings.TrimSpace(cmd+" "+sub), code[loc[1]:], help)
		}
	}
	for _, c := range []string{"token create", "token revoke", "token list", "db start", "db stop", "db url",
		"keys status", "keys rewrap", "migrate", "loadtest", "mdmcerts", "depsim"} {
		allHelp += helpOf(t, cache, strings.Fields(c)...)
	}
	for _, span := range spans {
		if strings.HasPrefix(span, "--") {
			checkFlags("orchard", strings.Fields(span)[0], allHelp)
		}
	}
	readme, _ := os.ReadFile("../../README.md")
	for _, v := range variableName.FindAllString(string(readme), -1) {
		if !strings.Contains(allHelp, v) && !slices.Contains(testVariables, v) {
			t.Errorf("the README names %s, which no --help mentions", v)
		}
	}
}

func helpFlags(help string) []string {
	var flags []string
	for _, m := range helpFlag.FindAllStringSubmatch(help, -1) {
		flags = append(flags, m[1])
	}
	return flags
}
