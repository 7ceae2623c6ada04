// Package wiretest checks messages against the AsyncAPI document
// sync/asyncapi.yaml, so the document a district developer generates a client
// from is tested against what the code really sends. Tests only.
package wiretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"campusgate/sync/wire"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// Doc is the parsed AsyncAPI document with a compiled schema per channel.
type Doc struct {
	Raw     map[string]any
	schemas map[wire.Kind]*jsonschema.Schema
}

// Report is the channel of the district's daily report
// (campusgate/v1/{school}/report/daily): not a gate's kind, but checked here
// as one.
const Report wire.Kind = wire.ReportLevel

var (
	once   sync.Once
	doc    *Doc
	docErr error
)

// Path is where the document lives in the repository.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "asyncapi.yaml")
}

// Load parses and compiles the document once.
func Load() (*Doc, error) {
	once.Do(func() { doc, docErr = load(Path()) })
	return doc, docErr
}

func load(path string) (*Doc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var y any
	if err := yaml.Unmarshal(b, &y); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Through JSON, so the schema compiler sees plain JSON values.
	j, err := json.Marshal(y)
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON-compatible: %w", path, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	raw := inst.(map[string]any)
	c := jsonschema.NewCompiler()
	const url = "file:///asyncapi.json"
	if err := c.AddResource(url, inst); err != nil {
		return nil, err
	}
	d := &Doc{Raw: raw, schemas: map[wire.Kind]*jsonschema.Schema{}}
	channels, _ := raw["channels"].(map[string]any)
	addresses := map[wire.Kind]string{Report: wire.ReportTopic("{school}")}
	for _, k := range append(append([]wire.Kind{}, wire.Uplink...), wire.Downlink...) {
		addresses[k] = wire.GateTopic("{school}", "{gate}", k)
	}
	for k, want := range addresses {
		ch, ok := channels[string(k)].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("asyncapi: no channel %q", k)
		}
		if ch["address"] != want {
			return nil, fmt.Errorf("asyncapi: channel %s address %v, the code uses %s", k, ch["address"], want)
		}
		msgs, _ := ch["messages"].(map[string]any)
		if len(msgs) != 1 {
			return nil, fmt.Errorf("asyncapi: channel %s has %d messages, want 1", k, len(msgs))
		}
		for _, m := range msgs {
			ref, _ := m.(map[string]any)["$ref"].(string)
			name := strings.TrimPrefix(ref, "#/components/messages/")
			msg, ok := raw["components"].(map[string]any)["messages"].(map[string]any)[name].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("asyncapi: channel %s: no message %s", k, ref)
			}
			pref, _ := msg["payload"].(map[string]any)["$ref"].(string)
			s, err := c.Compile(url + pref)
			if err != nil {
				return nil, fmt.Errorf("asyncapi: channel %s: %w", k, err)
			}
			d.schemas[k] = s
		}
	}
	return d, nil
}

// Validate checks one payload sent on a channel of kind k.
func (d *Doc) Validate(k wire.Kind, payload []byte) error {
	s, ok := d.schemas[k]
	if !ok {
		return fmt.Errorf("asyncapi: no schema for %s", k)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("%s payload is not JSON: %w", k, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s payload does not match sync/asyncapi.yaml: %w", k, err)
	}
	return nil
}

// Check fails t if payload, sent on a topic of kind k, does not match the
// document.
func Check(t testing.TB, k wire.Kind, payload []byte) {
	t.Helper()
	d, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(k, payload); err != nil {
		t.Errorf("%v\npayload: %.600s", err, payload)
	}
}
