package schemas

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// update rewrites the current version's schema file of every event type from
// its Go type. Older versions' files are frozen and never rewritten.
var update = flag.Bool("update", false, "rewrite json/<type>.v<current>.json from the Go types")

// TestSchemasMatchGoTypes generates each event type's JSON Schema from its Go
// type and `schema` tags and compares it with the embedded file: any drift
// between a Go type and its schema (a field added, renamed, made optional,
// a constraint changed) fails here until `go test ./schemas -update` is run
// and the diff reviewed.
func TestSchemasMatchGoTypes(t *testing.T) {
	for _, typ := range Types() {
		t.Run(typ, func(t *testing.T) {
			s := specs[typ]
			got, err := generateSchema(typ, s)
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			path := filepath.Join("json", schemaFileName(typ, s.version))
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden schema: %v (run go test ./schemas -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s drifted from its Go type %T; run go test ./schemas -update and review the diff\ngot:\n%s\nwant:\n%s",
					path, s.newEvent(), got, want)
			}
		})
	}
}

// TestSchemaFilesComplete checks that json/ holds exactly one file per
// version 1..current of every event type, and that every one compiles.
func TestSchemaFilesComplete(t *testing.T) {
	entries, err := os.ReadDir("json")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name()] = true
	}
	want := map[string]bool{}
	for _, typ := range Types() {
		for v := 1; v <= specs[typ].version; v++ {
			want[schemaFileName(typ, v)] = true
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("missing schema file json/%s", name)
		}
	}
	for name := range got {
		if !want[name] {
			t.Errorf("unexpected schema file json/%s (no such type or version)", name)
		}
	}
	if _, err := schemaOf(TypeOrderPlaced, 1); err != nil {
		t.Errorf("compile schemas: %v", err)
	}
}

// ordered is a JSON object that keeps its keys in insertion order, so the
// generated files list properties in struct order.
type ordered []kv

type kv struct {
	k string
	v any
}

func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// generateSchema renders the JSON Schema of the current version of an event
// type from its Go payload type.
func generateSchema(eventType string, s spec) ([]byte, error) {
	rt := reflect.TypeOf(s.newEvent()).Elem()
	props, required, err := objectFields(rt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rt.Name(), err)
	}
	doc := ordered{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"title", eventType + " v" + strconv.Itoa(s.version)},
		{"description", s.doc},
		{"type", "object"},
		{"properties", props},
		{"required", required},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// objectFields returns the properties and required names of a struct,
// flattening embedded structs as encoding/json does. A field is required
// unless it is a pointer or tagged omitempty/omitzero.
func objectFields(rt reflect.Type) (ordered, []string, error) {
	props := ordered{}
	required := []string{}
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			p, r, err := objectFields(f.Type)
			if err != nil {
				return nil, nil, err
			}
			props = append(props, p...)
			required = append(required, r...)
			continue
		}
		if name == "" {
			return nil, nil, fmt.Errorf("field %s has no json name", f.Name)
		}
		sch, err := schemaFor(f.Type, f.Tag.Get("schema"))
		if err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		props = append(props, kv{name, sch})
		optional := f.Type.Kind() == reflect.Pointer
		for _, o := range strings.Split(opts, ",") {
			if o == "omitempty" || o == "omitzero" {
				optional = true
			}
		}
		if !optional {
			required = append(required, name)
		}
	}
	return props, required, nil
}

var timeType = reflect.TypeOf(time.Time{})

// schemaFor renders the schema of one Go type with the constraints of its
// `schema` tag (see events.go); on a slice they apply to the items.
func schemaFor(rt reflect.Type, tag string) (ordered, error) {
	if rt.Kind() == reflect.Pointer {
		return schemaFor(rt.Elem(), tag)
	}
	if rt == timeType {
		if tag != "" {
			return nil, fmt.Errorf("schema tag %q on a time", tag)
		}
		return ordered{{"type", "string"}, {"format", "date-time"}}, nil
	}
	opts, err := parseSchemaTag(tag)
	if err != nil {
		return nil, err
	}
	switch rt.Kind() {
	case reflect.String:
		sch := ordered{{"type", "string"}}
		if k, ok := opts["kind"]; ok {
			sk, ok := stringKinds[k]
			if !ok {
				return nil, fmt.Errorf("unknown schema kind %q", k)
			}
			if sk.minLength > 0 {
				sch = append(sch, kv{"minLength", sk.minLength})
			}
			if sk.maxLength > 0 {
				sch = append(sch, kv{"maxLength", sk.maxLength})
			}
			if sk.pattern != "" {
				sch = append(sch, kv{"pattern", sk.pattern})
			}
			if sk.format != "" {
				sch = append(sch, kv{"format", sk.format})
			}
		}
		if e, ok := opts["enum"]; ok {
			sch = append(sch, kv{"enum", strings.Split(e, "|")})
		}
		return sch, checkUsed(opts, "kind", "enum")
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		sch := ordered{{"type", "integer"}}
		min, hasMin := opts["min"]
		if !hasMin && rt.Kind() >= reflect.Uint && rt.Kind() <= reflect.Uint64 {
			min, hasMin = "0", true
		}
		for _, b := range []struct {
			key, val string
			has      bool
		}{{"minimum", min, hasMin}, {"maximum", opts["max"], opts["max"] != ""}} {
			if !b.has {
				continue
			}
			n, err := strconv.Atoi(b.val)
			if err != nil {
				return nil, fmt.Errorf("schema %s=%q: %w", b.key, b.val, err)
			}
			sch = append(sch, kv{b.key, n})
		}
		return sch, checkUsed(opts, "min", "max")
	case reflect.Bool:
		return ordered{{"type", "boolean"}}, checkUsed(opts)
	case reflect.Slice:
		items, err := schemaFor(rt.Elem(), tag)
		if err != nil {
			return nil, err
		}
		return ordered{{"type", "array"}, {"items", items}}, nil
	case reflect.Struct:
		if tag != "" {
			return nil, fmt.Errorf("schema tag %q on a struct", tag)
		}
		props, required, err := objectFields(rt)
		if err != nil {
			return nil, err
		}
		return ordered{{"type", "object"}, {"properties", props}, {"required", required}}, nil
	}
	return nil, fmt.Errorf("no schema for Go type %s", rt)
}

// parseSchemaTag splits a `schema` tag into its kind and key=value options.
func parseSchemaTag(tag string) (map[string]string, error) {
	opts := map[string]string{}
	if tag == "" {
		return opts, nil
	}
	for _, part := range strings.Split(tag, ",") {
		k, v, hasValue := strings.Cut(part, "=")
		if !hasValue {
			k, v = "kind", part
		}
		if _, dup := opts[k]; dup || v == "" {
			return nil, fmt.Errorf("bad schema tag %q", tag)
		}
		opts[k] = v
	}
	return opts, nil
}

// checkUsed fails on options a Go type cannot take, so that a typo in a
// tag is not silently ignored.
func checkUsed(opts map[string]string, allowed ...string) error {
	for k := range opts {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Errorf("schema option %q does not apply here", k)
		}
	}
	return nil
}
