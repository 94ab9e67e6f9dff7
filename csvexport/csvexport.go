// Package csvexport writes the CSV files the engine hands out, neutralised
// for spreadsheets: a file opened in Excel, LibreOffice or Google Sheets
// never runs a formula that a brand, a shop or a creator put in a text
// (CSV injection, OWASP). Every CSV the engine writes goes through Writer.
package csvexport

import (
	"encoding/csv"
	"io"
)

// Writer is an encoding/csv Writer whose every cell goes through Cell.
// Like csv.Writer it buffers: call Flush, then Error.
type Writer struct {
	w      *csv.Writer
	record []string
}

// NewWriter returns a Writer writing comma-separated records to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, each cell neutralised by Cell; record itself is
// left unchanged.
func (w *Writer) Write(record []string) error {
	w.record = w.record[:0]
	for _, c := range record {
		w.record = append(w.record, Cell(c))
	}
	return w.w.Write(w.record)
}

// Flush writes any buffered data to the underlying io.Writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports any error of a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }
