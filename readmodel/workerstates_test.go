package readmodel_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/attrib-engine/attrib/readmodel"
	"github.com/attrib-engine/attrib/readmodel/readmodeltest"
)

// TestWorkerStates: Load returns, of each order asked for, the snapshot of
// highest progress, whatever the order of the saves and the text of the
// ids; orders never saved are absent.
func TestWorkerStates(t *testing.T) {
	ctx := context.Background()
	conn, db := readmodeltest.Migrated(t)
	ws, err := readmodel.NewWorkerStates(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	ref := func(b, o string) readmodel.OrderRef { return readmodel.OrderRef{BrandID: b, OrderID: o} }
	odd := ref(`b'1\`, "o ' ?, \\ )")
	saves := [][]readmodel.WorkerState{
		{{OrderRef: ref("b1", "o1"), Progress: 2<<32 | 2, State: []byte("o1 v2")}, {OrderRef: odd, Progress: 1 << 32, State: []byte("odd v1")}},
		{{OrderRef: ref("b1", "o1"), Progress: 1<<32 | 1, State: []byte("o1 v1, saved late")}, {OrderRef: ref("b2", "o1"), Progress: 1, State: []byte{0, 'S', 0xff}}},
		{{OrderRef: odd, Progress: 3 << 32, State: []byte("odd v3")}},
	}
	for _, s := range saves {
		if err := ws.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		refs []readmodel.OrderRef
		want map[readmodel.OrderRef]string
	}{
		{"highest progress", []readmodel.OrderRef{ref("b1", "o1")}, map[readmodel.OrderRef]string{ref("b1", "o1"): "o1 v2"}},
		{"two brands, binary state", []readmodel.OrderRef{ref("b1", "o1"), ref("b2", "o1")},
			map[readmodel.OrderRef]string{ref("b1", "o1"): "o1 v2", ref("b2", "o1"): "\x00S\xff"}},
		{"quotes and placeholders in ids", []readmodel.OrderRef{odd}, map[readmodel.OrderRef]string{odd: "odd v3"}},
		{"never saved", []readmodel.OrderRef{ref("b1", "o2"), ref("b3", "o1")}, map[readmodel.OrderRef]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ws.Load(ctx, tc.refs)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(asStrings(got)) != fmt.Sprint(tc.want) {
				t.Errorf("Load = %v, want %v", asStrings(got), tc.want)
			}
		})
	}
}

func asStrings(m map[readmodel.OrderRef][]byte) map[readmodel.OrderRef]string {
	out := make(map[readmodel.OrderRef]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
