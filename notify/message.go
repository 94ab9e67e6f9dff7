package notify

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/attrib-engine/attrib/schemas"
)

// Decision is the outcome of one code request, as the email needs it.
type Decision struct {
	// EventID is the id of the code.confirmed or code.rejected event; the
	// email's Message-ID, its sent-marker and its .eml file are named by it.
	EventID string
	// At is the decision's OccurredAt; it becomes the email's Date.
	At time.Time
	// Confirmed is true for a confirmation (Code is set), false for a
	// rejection (Reason is set).
	Confirmed bool
	RequestID string
	BrandID   string
	OfferID   string
	CreatorID string
	// Platform is where the creator shares the code. Rejections do not carry
	// it; it is empty there unless the Directory can tell (RequestDirectory).
	Platform string
	// Code is the code as the brand issued it.
	Code string
	// Reason is the brand's reason for a rejection, as the creator reads it.
	Reason string
}

// eventIDPattern is what an event id must look like to name a Message-ID
// (RFC 5322 dot-atom-text) and a file: NewEventID makes 32 hex digits.
var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// DecisionOf decodes a code.confirmed or code.rejected envelope. For any
// other type it returns ok false and no error. An error means the event can
// never become an email (bad payload, unusable event id): the caller
// dead-letters it.
func DecisionOf(env schemas.Envelope) (d Decision, ok bool, err error) {
	if env.Type != schemas.TypeCodeConfirmed && env.Type != schemas.TypeCodeRejected {
		return Decision{}, false, nil
	}
	if !eventIDPattern.MatchString(env.EventID) {
		return Decision{}, false, fmt.Errorf("%s event id %q cannot name an email: want 1 to 128 letters, digits, - or _", env.Type, env.EventID)
	}
	ev, err := schemas.DecodeTrusted(env)
	if err != nil {
		return Decision{}, false, err
	}
	d = Decision{EventID: env.EventID, At: env.OccurredAt}
	switch p := ev.(type) {
	case *schemas.CodeConfirmed:
		d.Confirmed = true
		d.RequestID, d.BrandID, d.OfferID, d.CreatorID = p.RequestID, p.BrandID, p.OfferID, p.CreatorID
		d.Platform, d.Code = p.Platform, p.Code
	case *schemas.CodeRejected:
		d.RequestID, d.BrandID, d.OfferID, d.CreatorID = p.RequestID, p.BrandID, p.OfferID, p.CreatorID
		d.Reason = p.Reason
	default:
		return Decision{}, false, fmt.Errorf("decode event %s: %s decoded as %T", env.EventID, env.Type, ev)
	}
	return d, true, nil
}

// Message is one email to a creator, before a sender adds its From.
type Message struct {
	// EventID is the decision's event id; MessageID derives from it.
	EventID string
	To      mail.Address
	Subject string
	// Body is plain UTF-8 text with "\n" line ends.
	Body string
	Date time.Time
}

// MessageID returns the Message-ID header value, "<event-id@attrib>". It is
// the same for every attempt to send one decision's email, so a receiver
// that dedupes by Message-ID shows a duplicate once.
func (m Message) MessageID() string { return "<" + m.EventID + "@attrib>" }

// Format renders the message as RFC 5322 text with CRLF line ends: UTF-8
// headers as RFC 2047 encoded words, the body as quoted-printable. The
// output depends only on m and from, so every attempt sends the same bytes.
func (m Message) Format(from mail.Address) []byte {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("Date", m.Date.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", m.To.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Message-ID", m.MessageID())
	// RFC 3834: an automatic notification; well-behaved auto-responders
	// (vacation replies) do not answer it.
	header("Auto-Submitted", "auto-generated")
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// The writer turns each "\n" into CRLF and folds long lines.
	_, _ = qp.Write([]byte(m.Body))
	_ = qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// Compose builds the email of decision d to the creator at to, for the offer
// offerName of the brand brandName. It is a pure function: the same inputs
// give the same message, whichever attempt sends it.
func Compose(d Decision, to mail.Address, offerName, brandName string) Message {
	// Names are cut short in the subject, less so in the body.
	offer, brand := oneLine(offerName, 300), oneLine(brandName, 300)
	shortOffer, shortBrand := oneLine(offerName, 60), oneLine(brandName, 60)
	on := ""
	if p := PlatformName(d.Platform); p != "" {
		on = " on " + p
	}
	var subject string
	var body strings.Builder
	greeting := "Hello"
	if name := oneLine(to.Name, 80); name != "" {
		greeting += ", " + name
	}
	body.WriteString(greeting + "!\n\n")
	if d.Confirmed {
		subject = fmt.Sprintf("%s confirmed your promo code request: %s", shortBrand, oneLine(d.Code, 60))
		fmt.Fprintf(&body, "%s has approved your promo code request for the offer \"%s\"%s.\n\n", brand, offer, on)
		fmt.Fprintf(&body, "Your promo code: %s\n\n", d.Code)
		body.WriteString("From now on, every order your followers place with this code counts towards your earnings " +
			"under the offer's terms. The code is also listed under Promo codes, on the My promo codes tab.\n")
	} else {
		subject = fmt.Sprintf("%s declined your promo code request for %s", shortBrand, shortOffer)
		fmt.Fprintf(&body, "%s has declined your promo code request for the offer \"%s\"%s.\n\n", brand, offer, on)
		if reason := strings.TrimSpace(d.Reason); reason != "" {
			fmt.Fprintf(&body, "The brand's reason:\n%s\n\n", reason)
		} else {
			body.WriteString("The brand did not give a reason.\n\n")
		}
		body.WriteString("You are welcome to request a code for another platform or another offer.\n")
	}
	fmt.Fprintf(&body, "\nRequest %s\n", d.RequestID)
	return Message{EventID: d.EventID, To: to, Subject: subject, Body: body.String(), Date: d.At}
}

// platformNames are the display names of the platforms whose spelling is
// not just a capital first letter.
var platformNames = map[string]string{
	"instagram": "Instagram",
	"tiktok":    "TikTok",
	"youtube":   "YouTube",
	"telegram":  "Telegram",
	"vk":        "VK",
	"twitch":    "Twitch",
	"x":         "X",
}

// PlatformName returns how a platform id ("tiktok") is written for people
// ("TikTok"); an unknown id is returned with words capitalised.
func PlatformName(id string) string {
	if n, ok := platformNames[id]; ok {
		return n
	}
	words := strings.FieldsFunc(id, func(r rune) bool { return r == '_' })
	for i, w := range words {
		r, size := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[size:]
	}
	return strings.Join(words, " ")
}

// oneLine makes s fit a header or a sentence: control characters become
// spaces, runs of spaces collapse, and it is cut to max runes with "…".
func oneLine(s string, max int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + "…"
}

// errInvalidAddress marks an address no sender could deliver to.
var errInvalidAddress = errors.New("invalid email address")

// recipient checks a creator's email address and pairs it with the name.
func recipient(name, email string) (mail.Address, error) {
	a, err := mail.ParseAddress(email)
	if err != nil {
		return mail.Address{}, fmt.Errorf("%w %q: %v", errInvalidAddress, email, err)
	}
	if a.Name != "" || a.Address != email {
		return mail.Address{}, fmt.Errorf("%w %q: want a bare address such as anna@example.com", errInvalidAddress, email)
	}
	return mail.Address{Name: oneLine(name, 200), Address: a.Address}, nil
}
