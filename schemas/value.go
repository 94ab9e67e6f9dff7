package schemas

import "reflect"

// ValueOf returns a payload as a value: Decode and DecodeTrusted return
// pointers (*OrderPlaced), deciders build values (OrderPlaced); code that
// switches on payload types calls ValueOf first and handles values only.
func ValueOf(ev Event) Event {
	v := reflect.ValueOf(ev)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if e, ok := v.Elem().Interface().(Event); ok {
			return e
		}
	}
	return ev
}

// CatalogBrandOf returns the brand of a brand-scoped catalog event
// (registration of the brand, offers, codes); ok is false for creators',
// analysts' and non-catalog events.
func CatalogBrandOf(ev Event) (brandID string, ok bool) {
	if TopicOf(ev.EventType()) != TopicCatalog {
		return "", false
	}
	_, brandID, ok = KeyOf(ev)
	return brandID, ok && brandID != ""
}
