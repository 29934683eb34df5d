// envsubst-ref runs substitution cases through Flux's own envsubst
// (github.com/fluxcd/pkg/envsubst, the version pinned as flux-envsubst in
// tests/tools/versions), the reference for plumb's port of it
// (agent/src/render/envsubst.rs, tested by tests/substitute.rs). Built by
// `tests/tools/build.sh flux-envsubst`.
//
// stdin: a JSON array of cases:
//
//	{"mode": "text", "input": "<text>", "vars": {"A": "x"}, "strict": false}
//	{"mode": "object", "input": {...any JSON object...}, "vars": {...}, "strict": true}
//
// stdout: a JSON array with one result per case, in order:
// {"output": <text, or the object's JSON value>, "error": null} or
// {"output": null, "error": "<message>"}.
//
// "text" is envsubst.Eval on the input. "object" is what kustomize-controller
// does to each object (varSubstitution in fluxcd/pkg kustomize_varsub.go): the
// object as YAML (JSON, then yaml.JSONToYAML), envsubst.Eval on that text, and
// yaml.YAMLToJSON of the result. The mapping is Flux's: strict, a variable
// missing from vars is unset; otherwise it is the empty string. A panic in
// Flux's code is reported as an error "panic: ...".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/pkg/envsubst"
	"sigs.k8s.io/yaml"
)

type testCase struct {
	Mode   string            `json:"mode"`
	Input  json.RawMessage   `json:"input"`
	Vars   map[string]string `json:"vars"`
	Strict bool              `json:"strict"`
}

type result struct {
	Output interface{} `json:"output"`
	Error  *string     `json:"error"`
}

func mapping(vars map[string]string, strict bool) func(string) (string, bool) {
	if strict {
		return func(s string) (string, bool) {
			v, ok := vars[s]
			return v, ok
		}
	}
	return func(s string) (string, bool) {
		return vars[s], true
	}
}

// decode reads one JSON value keeping numbers as they are written.
func decode(data []byte) (interface{}, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func run(c testCase) (out interface{}, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	switch c.Mode {
	case "text":
		var text string
		if err := json.Unmarshal(c.Input, &text); err != nil {
			return nil, fmt.Errorf("text input: %w", err)
		}
		return envsubst.Eval(text, mapping(c.Vars, c.Strict))
	case "object":
		object, err := decode(c.Input)
		if err != nil {
			return nil, fmt.Errorf("object input: %w", err)
		}
		data, err := json.Marshal(object)
		if err != nil {
			return nil, err
		}
		yamlData, err := yaml.JSONToYAML(data)
		if err != nil {
			return nil, fmt.Errorf("JSONToYAML: %w", err)
		}
		output, err := envsubst.Eval(string(yamlData), mapping(c.Vars, c.Strict))
		if err != nil {
			return nil, fmt.Errorf("variable substitution failed: %w", err)
		}
		jsonData, err := yaml.YAMLToJSON([]byte(output))
		if err != nil {
			return nil, fmt.Errorf("YAMLToJSON: %w", err)
		}
		return decode(jsonData)
	default:
		return nil, fmt.Errorf("unknown mode %q", c.Mode)
	}
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envsubst-ref: reading cases:", err)
		os.Exit(2)
	}
	var cases []testCase
	if err := json.Unmarshal(data, &cases); err != nil {
		fmt.Fprintln(os.Stderr, "envsubst-ref: reading cases:", err)
		os.Exit(2)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		out, err := run(c)
		if err != nil {
			msg := err.Error()
			results[i] = result{Error: &msg}
		} else {
			results[i] = result{Output: out}
		}
	}
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "envsubst-ref:", err)
		os.Exit(2)
	}
	if err := w.Flush(); err != nil {
		os.Exit(2)
	}
}
