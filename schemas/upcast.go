package schemas

import (
	"encoding/json"
	"errors"
)

// upcastOrderPlacedV1 reads order.placed v1, which had no country, as v2:
// the country is UnknownCountry ("ZZ"). A v1 payload that happens to carry
// a country keeps it.
func upcastOrderPlacedV1(payload json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil || fields == nil {
		return nil, errors.New("payload is not a JSON object")
	}
	if _, ok := fields["country"]; ok {
		return payload, nil
	}
	fields["country"] = json.RawMessage(`"` + UnknownCountry + `"`)
	return json.Marshal(fields)
}
