package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/attrib-engine/attrib/schemas"
)

// RegisterContracts adds the published contracts to mux: /openapi.json, the
// list of event schemas at /schemas/, and each event type's JSON Schema at
// /schemas/{type}.json (current version) or /schemas/{type}.v{n}.json.
func RegisterContracts(mux *Mux) {
	doc := OpenAPI()
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	mux.HandleFunc("GET /schemas/", func(w http.ResponseWriter, _ *http.Request) {
		type entry struct {
			Type    string `json:"type"`
			Version int    `json:"version"`
			Topic   string `json:"topic"`
			URL     string `json:"url"`
		}
		var list []entry
		for _, t := range schemas.Types() {
			v, _ := schemas.CurrentVersion(t)
			list = append(list, entry{Type: t, Version: v, Topic: schemas.TopicOf(t), URL: "/schemas/" + t + ".json"})
		}
		writeJSON(w, http.StatusOK, map[string]any{"event_types": list})
	})
	mux.HandleFunc("GET /schemas/{file}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutSuffix(r.PathValue("file"), ".json")
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "want /schemas/{type}.json", "")
			return
		}
		var body []byte
		var found bool
		if i := strings.LastIndex(name, ".v"); i > 0 {
			v, err := strconv.Atoi(name[i+2:])
			if err != nil {
				writeError(w, http.StatusNotFound, "not_found", "no schema for event type "+name, "")
				return
			}
			body, found = schemas.SchemaJSONVersion(name[:i], v)
		} else {
			body, found = schemas.SchemaJSON(name)
		}
		if !found {
			writeError(w, http.StatusNotFound, "not_found", "no schema for event type "+name, "")
			return
		}
		w.Header().Set("Content-Type", "application/schema+json")
		_, _ = w.Write(body)
	})
}
