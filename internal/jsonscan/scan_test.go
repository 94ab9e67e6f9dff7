package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// skipped is what Skip made of a text, comparable between the string and
// the []byte form.
type skipped struct {
	pos       int
	canonical bool
	err       string
}

func skipBoth(t *testing.T, text string, maxDepth int) skipped {
	t.Helper()
	s := Scanner[string]{Src: text}
	canonical, err := s.Skip(maxDepth)
	got := skipped{pos: s.Pos, canonical: canonical}
	if err != nil {
		got.err = err.Error()
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %T, want a *SyntaxError", text, err)
		}
	}
	b := Scanner[[]byte]{Src: []byte(text)}
	canonical, err = b.Skip(maxDepth)
	gotBytes := skipped{pos: b.Pos, canonical: canonical}
	if err != nil {
		gotBytes.err = err.Error()
	}
	if gotBytes != got {
		t.Errorf("%q: string form %+v, []byte form %+v", text, got, gotBytes)
	}
	return got
}

func TestSkip(t *testing.T) {
	tests := []struct {
		name string
		text string
		want skipped
	}{
		{name: "string", text: `"abc" rest`, want: skipped{pos: 5, canonical: true}},
		{name: "empty string", text: `""`, want: skipped{pos: 2, canonical: true}},
		{name: "number", text: `-12.5e+3,`, want: skipped{pos: 8, canonical: true}},
		{name: "true", text: `true`, want: skipped{pos: 4, canonical: true}},
		{name: "false", text: `false]`, want: skipped{pos: 5, canonical: true}},
		{name: "null", text: `null`, want: skipped{pos: 4, canonical: true}},
		{name: "empty object", text: `{}`, want: skipped{pos: 2, canonical: true}},
		{name: "empty array", text: `[]`, want: skipped{pos: 2, canonical: true}},
		{name: "empty with space", text: `{ }`, want: skipped{pos: 3}},
		{name: "nested", text: `{"a":[1,{"b":null},"c"],"d":{}}x`, want: skipped{pos: 31, canonical: true}},
		{name: "space between tokens", text: "{\"a\" :\t[1 ,\n2]\r}", want: skipped{pos: 16}},
		{name: "space after a name", text: `{"a": 1}`, want: skipped{pos: 8}},
		{name: "html in a string", text: `["<b>"]`, want: skipped{pos: 7}},
		{name: "ampersand in a name", text: `{"&":1}`, want: skipped{pos: 7}},
		{name: "line separator", text: "\"\u2028\"", want: skipped{pos: 5}},
		{name: "escaped html is canonical", text: `"\u003c"`, want: skipped{pos: 8, canonical: true}},
		{name: "other non-ASCII is canonical", text: `"é€😀"`, want: skipped{pos: 11, canonical: true}},
		{name: "invalid UTF-8 in a string passes", text: "\"\xff\xfe\"", want: skipped{pos: 4, canonical: true}},

		{name: "nothing", text: ``, want: skipped{pos: 0, err: "unexpected end of input"}},
		{name: "white space first", text: ` 1`, want: skipped{pos: 0, err: "unexpected character"}},
		{name: "invalid UTF-8 outside strings", text: "[\xff]", want: skipped{pos: 1, err: "unexpected character"}},
		{name: "bare word", text: `nul`, want: skipped{pos: 0, err: "invalid literal"}},
		{name: "wrong literal", text: `[trUe]`, want: skipped{pos: 1, err: "invalid literal"}},
		{name: "minus alone", text: `-`, want: skipped{pos: 1, err: "unexpected end of input"}},
		{name: "minus then letter", text: `-a`, want: skipped{pos: 1, err: "invalid number"}},
		{name: "plus sign", text: `+1`, want: skipped{pos: 0, err: "unexpected character"}},
		{name: "fraction without digits", text: `1.e5`, want: skipped{pos: 2, err: "invalid number: no digit after '.'"}},
		{name: "exponent without digits", text: `1e+`, want: skipped{pos: 3, err: "invalid number: no digit in exponent"}},
		{name: "leading zero stops the number", text: `[01]`, want: skipped{pos: 2, err: "expected ',' or ']' after array element"}},
		{name: "unterminated string", text: `"abc`, want: skipped{pos: 4, err: "unexpected end of input"}},
		{name: "control character", text: "\"a\tb\"", want: skipped{pos: 2, err: "control character in string"}},
		{name: "bad escape", text: `"\x"`, want: skipped{pos: 2, err: "invalid escape"}},
		{name: "bad \\u escape", text: `"\u12g4"`, want: skipped{pos: 2, err: `invalid \u escape`}},
		{name: "truncated \\u escape", text: `"\u12`, want: skipped{pos: 5, err: "unexpected end of input"}},
		{name: "backslash at the end", text: `"\`, want: skipped{pos: 2, err: "unexpected end of input"}},
		{name: "name not a string", text: `{a:1}`, want: skipped{pos: 1, err: "expected a string as member name"}},
		{name: "trailing comma in an object", text: `{"a":1,}`, want: skipped{pos: 7, err: "expected a string as member name"}},
		{name: "missing colon", text: `{"a" 1}`, want: skipped{pos: 5, err: "expected ':' after member name"}},
		{name: "missing value", text: `{"a":}`, want: skipped{pos: 5, err: "unexpected character"}},
		{name: "ends after a colon", text: `{"a": `, want: skipped{pos: 6, err: "unexpected end of input"}},
		{name: "missing comma in an object", text: `{"a":1 "b":2}`, want: skipped{pos: 7, err: "expected ',' or '}' after object member"}},
		{name: "trailing comma in an array", text: `[1,]`, want: skipped{pos: 3, err: "unexpected character"}},
		{name: "wrong closer", text: `[1}`, want: skipped{pos: 2, err: "expected ',' or ']' after array element"}},
		{name: "unclosed array", text: `[1, 2`, want: skipped{pos: 5, err: "unexpected end of input"}},
		{name: "unclosed object", text: `{"a":{}`, want: skipped{pos: 7, err: "unexpected end of input"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := skipBoth(t, tc.text, 64); got != tc.want {
				t.Errorf("Skip(%q) = %+v, want %+v", tc.text, got, tc.want)
			}
		})
	}
}

// nested returns depth containers, alternately arrays and objects, around
// a number, then the closers.
func nested(depth int) string {
	var open, closers strings.Builder
	for d := range depth {
		if d%2 == 0 {
			open.WriteString(`[`)
		} else {
			open.WriteString(`{"k":`)
		}
	}
	for d := depth - 1; d >= 0; d-- {
		if d%2 == 0 {
			closers.WriteString(`]`)
		} else {
			closers.WriteString(`}`)
		}
	}
	return open.String() + "1" + closers.String()
}

func TestSkipDepth(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		maxDepth int
		want     skipped
	}{
		{name: "at the limit", text: nested(64), maxDepth: 64, want: skipped{pos: len(nested(64)), canonical: true}},
		{name: "over the limit", text: nested(65), maxDepth: 64,
			want: skipped{pos: strings.Index(nested(65), `1`) - 1, err: "values nested more than 64 levels deep"}},
		{name: "an empty one over the limit", text: `[[]]`, maxDepth: 1, want: skipped{pos: 1, err: "values nested more than 1 levels deep"}},
		{name: "a scalar needs no depth", text: `"x"`, maxDepth: 0, want: skipped{pos: 3, canonical: true}},
		// Past 64 and 128 levels, the kinds of the outer containers are
		// kept apart from the inner ones and must come back in order.
		{name: "deep and mixed", text: nested(200), maxDepth: 10000, want: skipped{pos: len(nested(200)), canonical: true}},
		{name: "deep with a wrong closer", text: strings.Replace(nested(130), "}]}", "}}}", 1), maxDepth: 10000,
			want: skipped{pos: strings.Index(nested(130), "}]}") + 1, err: "expected ',' or ']' after array element"}},
		{name: "many shallow containers", text: "[" + strings.Repeat(`{"a":[1]},`, 100) + "[]]", maxDepth: 3,
			want: skipped{pos: 1004, canonical: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := skipBoth(t, tc.text, tc.maxDepth); got != tc.want {
				t.Errorf("Skip = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestObject(t *testing.T) {
	type member struct {
		name    string
		escaped bool
		at      int
	}
	tests := []struct {
		name    string
		text    string
		want    []member
		wantPos int
		wantErr string
	}{
		{name: "empty", text: `{}`, wantPos: 2},
		{name: "members", text: `{"a":1, "b" : "x" }`,
			want: []member{{name: "a", at: 5}, {name: "b", at: 14}}, wantPos: 19},
		{name: "escaped name", text: `{"a\"b":true}`, want: []member{{name: `a\"b`, escaped: true, at: 8}}, wantPos: 13},
		{name: "not an object", text: `[1]`, wantPos: 0, wantErr: "expected an object"},
		{name: "bad name", text: `{"a\q":1}`, wantPos: 4, wantErr: "invalid escape"},
		{name: "ends in a name", text: `{"ab`, wantPos: 4, wantErr: "unexpected end of input"},
		{name: "bad separator", text: `{"a":1;}`, want: []member{{name: "a", at: 5}}, wantPos: 6,
			wantErr: "expected ',' or '}' after object member"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Scanner[string]{Src: tc.text}
			var got []member
			err := s.Object(func(name string, escaped bool) error {
				got = append(got, member{name: name, escaped: escaped, at: s.Pos})
				_, err := s.Skip(64)
				return err
			})
			if gotErr := errString(err); gotErr != tc.wantErr || s.Pos != tc.wantPos {
				t.Errorf("error %q at %d, want %q at %d", gotErr, s.Pos, tc.wantErr, tc.wantPos)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("members %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("member %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestObjectReturnsMembersError(t *testing.T) {
	stop := errors.New("stop")
	s := Scanner[[]byte]{Src: []byte(`{"a":1,"b":2}`)}
	err := s.Object(func(name []byte, _ bool) error {
		if string(name) == "b" {
			return stop
		}
		_, err := s.Number()
		return err
	})
	if err != stop || s.Pos != 11 {
		t.Errorf("error %v at %d, want the member's error at 11", err, s.Pos)
	}
}

func TestArray(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []int // where each element starts
		wantPos int
		wantErr string
	}{
		{name: "empty", text: `[ ]`, wantPos: 3},
		{name: "elements", text: `[1, "a" ,[]]`, want: []int{1, 4, 9}, wantPos: 12},
		{name: "not an array", text: `{}`, wantPos: 0, wantErr: "expected an array"},
		{name: "ends after a comma", text: `[1, `, want: []int{1}, wantPos: 4, wantErr: "unexpected end of input"},
		{name: "bad separator", text: `[1:2]`, want: []int{1}, wantPos: 2, wantErr: "expected ',' or ']' after array element"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Scanner[string]{Src: tc.text}
			var got []int
			err := s.Array(func() error {
				got = append(got, s.Pos)
				_, err := s.Skip(64)
				return err
			})
			if gotErr := errString(err); gotErr != tc.wantErr || s.Pos != tc.wantPos {
				t.Errorf("error %q at %d, want %q at %d", gotErr, s.Pos, tc.wantErr, tc.wantPos)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("elements at %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStr(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		want      string
		wantFlags StringFlags
		wantPos   int
		wantErr   string
	}{
		{name: "plain", text: `"abc",`, want: "abc", wantPos: 5},
		{name: "empty", text: `""`, want: "", wantPos: 2},
		{name: "escapes", text: `"a\n\u00e9"`, want: `a\n\u00e9`, wantFlags: Escaped, wantPos: 11},
		{name: "non-ASCII", text: `"é"`, want: "é", wantFlags: NonASCII, wantPos: 4},
		{name: "invalid UTF-8", text: "\"\xc3\"", want: "\xc3", wantFlags: NonASCII, wantPos: 3},
		{name: "html", text: `"<&>"`, want: "<&>", wantFlags: HTMLUnsafe, wantPos: 5},
		{name: "paragraph separator", text: "\"\u2029\"", want: "\u2029", wantFlags: NonASCII | HTMLUnsafe, wantPos: 5},
		{name: "not a string", text: `1`, wantPos: 0, wantErr: "expected a string"},
		{name: "at the end", text: ``, wantPos: 0, wantErr: "expected a string"},
		{name: "unterminated", text: `"ab`, wantPos: 3, wantErr: "unexpected end of input"},
		{name: "control character", text: "\"\x00\"", wantPos: 1, wantErr: "control character in string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Scanner[[]byte]{Src: []byte(tc.text)}
			got, flags, err := s.Str()
			if gotErr := errString(err); gotErr != tc.wantErr || s.Pos != tc.wantPos {
				t.Fatalf("error %q at %d, want %q at %d", gotErr, s.Pos, tc.wantErr, tc.wantPos)
			}
			if string(got) != tc.want || flags != tc.wantFlags {
				t.Errorf("got %q, flags %b; want %q, flags %b", got, flags, tc.want, tc.wantFlags)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		text    string
		want    string
		wantErr string
	}{
		{text: `0`, want: `0`},
		{text: `-0`, want: `-0`},
		{text: `01`, want: `0`}, // the 1 is what follows the number
		{text: `123456789012345678901234567890`, want: `123456789012345678901234567890`},
		{text: `-1.5e-10,`, want: `-1.5e-10`},
		{text: `2E+308`, want: `2E+308`},
		{text: `1.0e0]`, want: `1.0e0`},
		{text: `.5`, wantErr: "invalid number"},
		{text: `-`, wantErr: "unexpected end of input"},
		{text: ``, wantErr: "unexpected end of input"},
		{text: `1.`, wantErr: "invalid number: no digit after '.'"},
		{text: `1e`, wantErr: "invalid number: no digit in exponent"},
		{text: `1e-x`, wantErr: "invalid number: no digit in exponent"},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			s := Scanner[string]{Src: tc.text}
			got, err := s.Number()
			if errString(err) != tc.wantErr || got != tc.want {
				t.Errorf("Number(%q) = %q, %v; want %q, %q", tc.text, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct {
		name     string
		contents string
		want     string
		wantOK   bool
	}{
		{name: "no escapes", contents: `abc`, want: "abc", wantOK: true},
		{name: "short escapes", contents: `\"\\\/\b\f\n\r\t`, want: "\"\\/\b\f\n\r\t", wantOK: true},
		{name: "unicode escapes", contents: `\u00e9\u20AC\u0000`, want: "é€\x00", wantOK: true},
		{name: "surrogate pair", contents: `x\ud83d\ude00y`, want: "x😀y", wantOK: true},
		{name: "invalid UTF-8 is kept", contents: "\xff\\n", want: "\xff\n", wantOK: true},
		{name: "lone high surrogate", contents: `\ud83d`, wantOK: false},
		{name: "high surrogate then text", contents: `\ud83dxxxxxx`, wantOK: false},
		{name: "high surrogate then a non-surrogate", contents: `\ud83d\u0041`, wantOK: false},
		{name: "two high surrogates", contents: `\ud83d\ud83d`, wantOK: false},
		{name: "lone low surrogate", contents: `\ude00`, wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Unescape(tc.contents)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Unescape(%q) = %q, %v; want %q, %v", tc.contents, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestEnd(t *testing.T) {
	s := Scanner[string]{Src: "1 \t\r\n"}
	if _, err := s.Number(); err != nil {
		t.Fatal(err)
	}
	if err := s.End(); err != nil || s.Pos != 5 {
		t.Errorf("End after trailing white space: %v at %d, want nil at 5", err, s.Pos)
	}
	s = Scanner[string]{Src: "1 2"}
	_, _ = s.Number()
	if err := s.End(); errString(err) != "unexpected data after the JSON value" || s.Pos != 2 {
		t.Errorf("End before more data: %v at %d", err, s.Pos)
	}
}

// FuzzSkip checks Skip against encoding/json: a text is one valid value
// exactly when json.Valid says so, and canonical exactly when json.Marshal
// copies it unchanged as a json.RawMessage.
func FuzzSkip(f *testing.F) {
	for _, seed := range []string{`{"a":[1,2.5e3,true,null,{"b":"<\u2028>"}]}`, ` [1] `, `"\ud800"`, "\"\xff\"",
		`{"a" : 1}`, `[01]`, nested(70), `-0.0E-0`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := Scanner[[]byte]{Src: data}
		s.SkipSpace()
		start := s.Pos
		canonical, err := s.Skip(10000)
		value := data[start:s.Pos]
		if err == nil {
			err = s.End()
		}
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("%q: Skip error %v at %d, json.Valid %v", data, err, s.Pos, valid)
		}
		if err != nil {
			return
		}
		out, merr := json.Marshal(json.RawMessage(value))
		if merr != nil {
			t.Fatalf("%q: json.Marshal: %v", value, merr)
		}
		if same := bytes.Equal(out, value); same != canonical {
			t.Fatalf("%q: canonical %v, but json.Marshal writes %q", value, canonical, out)
		}
		skipBoth(t, string(value), 10000) // the string form agrees
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
