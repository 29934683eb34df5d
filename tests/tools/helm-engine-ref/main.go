// helm-engine-ref renders template cases with Helm's own engine, the reference
// for helm-template's tests (helm-template/tests/reference.rs). Built by
// `tests/tools/build.sh helm` against the Helm pinned in tests/tools/versions.
//
// stdin: a JSON array of cases, or one case per line (JSON lines):
//
//	{"name": "...", "values": "<values.yaml text>", "templates": [["templates/a.yaml", "<text>"], ...]}
//
// ("seed" and any other field are ignored.) stdout: one JSON line per case, in
// order: {"name": ..., "files": {"case/templates/a.yaml": "<output>", ...}}, or
// {"name": ..., "error": "<Helm's error message>"}.
//
// Each case is a chart named "case" (apiVersion v2, version 0.1.0, appVersion
// 1.0.0) whose values.yaml is the case's values, rendered as `helm template`
// renders it with no values given: release "release" in namespace "default",
// revision 1, install, Helm's default capabilities, non-strict, no cluster.
//
// `helm-engine-ref match` instead reads [[regex, text], ...] and writes a JSON
// array of booleans: whether each Go regexp matches its whole text.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
)

type testCase struct {
	Name      string      `json:"name"`
	Values    string      `json:"values"`
	Templates [][2]string `json:"templates"`
}

type result struct {
	Name  string            `json:"name"`
	Files *map[string]string `json:"files,omitempty"`
	Error *string           `json:"error,omitempty"`
}

func render(c testCase) (map[string]string, error) {
	values, err := chartutil.ReadValues([]byte(c.Values))
	if err != nil {
		return nil, err
	}
	ch := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "case", Version: "0.1.0", AppVersion: "1.0.0"},
		Values:   values.AsMap(),
	}
	for _, t := range c.Templates {
		ch.Templates = append(ch.Templates, &chart.File{Name: t[0], Data: []byte(t[1])})
	}
	options := chartutil.ReleaseOptions{Name: "release", Namespace: "default", Revision: 1, IsInstall: true}
	vals, err := chartutil.ToRenderValues(ch, map[string]interface{}{}, options, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, vals)
}

func readCases(r io.Reader) ([]testCase, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	var cases []testCase
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &cases)
		return cases, err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	for dec.More() {
		var c testCase
		if err := dec.Decode(&c); err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, nil
}

func match() error {
	var pairs [][2]string
	if err := json.NewDecoder(os.Stdin).Decode(&pairs); err != nil {
		return err
	}
	out := make([]bool, len(pairs))
	for i, p := range pairs {
		re, err := regexp.Compile(`^(?:` + p[0] + `)$`)
		if err != nil {
			return fmt.Errorf("regex %q: %w", p[0], err)
		}
		out[i] = re.MatchString(p[1])
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "match" {
		if err := match(); err != nil {
			fmt.Fprintln(os.Stderr, "helm-engine-ref:", err)
			os.Exit(2)
		}
		return
	}
	cases, err := readCases(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-engine-ref: reading cases:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, c := range cases {
		files, err := render(c)
		r := result{Name: c.Name}
		if err != nil {
			msg := err.Error()
			r.Error = &msg
		} else {
			if files == nil {
				files = map[string]string{}
			}
			r.Files = &files
		}
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(os.Stderr, "helm-engine-ref:", err)
			os.Exit(2)
		}
	}
	if err := w.Flush(); err != nil {
		os.Exit(2)
	}
}
