package readmodel

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// WorkerStates is the durable store of the attribution worker's evicted
// order states: the table worker_states, one row per snapshot saved,
// ordered by (brand_id, order_id). The worker saves an order's snapshot
// here before it deletes the order from Redis, and loads it back when a
// late event of the order arrives. Snapshots are opaque bytes to this
// package; of several of one order, Load returns the one of the highest
// progress, so saving one again, or an older one, changes nothing.
//
// The table is the worker's, not a projection: Swap never moves it, and
// nothing but the worker writes it.
type WorkerStates struct {
	conn driver.Conn
	db   string
}

// NewWorkerStates returns the store in database db (migrated by Migrate).
func NewWorkerStates(conn driver.Conn, db string) (*WorkerStates, error) {
	if err := CheckDatabase(db); err != nil {
		return nil, fmt.Errorf("worker states: %w", err)
	}
	return &WorkerStates{conn: conn, db: db}, nil
}

// OrderRef names one order.
type OrderRef struct {
	BrandID, OrderID string
}

// WorkerState is one saved snapshot of an order.
type WorkerState struct {
	OrderRef
	// Progress orders the snapshots of one order: the highest is current.
	Progress uint64
	State    []byte
}

// maxLoadKeys bounds the orders of one query of Load, so that its text
// stays well under ClickHouse's max_query_size (256 KiB by default).
const maxLoadKeys = 1000

// Save writes the snapshots in one insert.
func (s *WorkerStates) Save(ctx context.Context, states []WorkerState) error {
	if len(states) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+QuoteIdent(s.db)+"."+QuoteIdent(TableWorkerStates)+" (brand_id, order_id, progress, state, saved_at)")
	if err != nil {
		return fmt.Errorf("save %d worker states: %w", len(states), err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, st := range states {
		if err := b.Append(st.BrandID, st.OrderID, st.Progress, string(st.State), now); err != nil {
			_ = b.Abort()
			return fmt.Errorf("save worker state of %s/%s: %w", st.BrandID, st.OrderID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("save %d worker states: %w", len(states), err)
	}
	return nil
}

// Load returns the current snapshot of each of refs that has one, in one
// query per maxLoadKeys orders.
func (s *WorkerStates) Load(ctx context.Context, refs []OrderRef) (map[OrderRef][]byte, error) {
	out := make(map[OrderRef][]byte)
	for start := 0; start < len(refs); start += maxLoadKeys {
		if err := s.load(ctx, refs[start:min(start+maxLoadKeys, len(refs))], out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *WorkerStates) load(ctx context.Context, refs []OrderRef, out map[OrderRef][]byte) error {
	byBrand := make(map[string][]string)
	var brands []string
	for _, r := range refs {
		if _, ok := byBrand[r.BrandID]; !ok {
			brands = append(brands, r.BrandID)
		}
		byBrand[r.BrandID] = append(byBrand[r.BrandID], r.OrderID)
	}
	var q strings.Builder
	args := make([]any, 0, len(refs)+len(brands))
	q.WriteString("SELECT brand_id, order_id, argMax(state, progress) FROM " + QuoteIdent(s.db) + "." + QuoteIdent(TableWorkerStates) + " WHERE ")
	for i, b := range brands {
		if i > 0 {
			q.WriteString(" OR ")
		}
		q.WriteString("(brand_id = ? AND order_id IN (")
		args = append(args, b)
		for j, o := range byBrand[b] {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("?")
			args = append(args, o)
		}
		q.WriteString("))")
	}
	q.WriteString(" GROUP BY brand_id, order_id")
	rows, err := s.conn.Query(ctx, q.String(), args...)
	if err != nil {
		return fmt.Errorf("load %d worker states: %w", len(refs), err)
	}
	defer rows.Close()
	for rows.Next() {
		var r OrderRef
		var state string
		if err := rows.Scan(&r.BrandID, &r.OrderID, &state); err != nil {
			return fmt.Errorf("load %d worker states: %w", len(refs), err)
		}
		out[r] = []byte(state)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load %d worker states: %w", len(refs), err)
	}
	return nil
}
