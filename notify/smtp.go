package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	// URL is the server and the sender address:
	//
	//	smtp://[user:password@]host[:port]?from=noreply@example.com
	//	smtps://[user:password@]host[:port]?from=...
	//
	// smtp:// (default port 25) upgrades the connection with STARTTLS when
	// the server offers it; starttls=false never does, starttls=require
	// refuses a server that does not offer it. smtps:// (default port 465)
	// speaks TLS from the first byte. With a user, the sender authenticates
	// with PLAIN, which net/smtp only does over TLS or to localhost. from may
	// carry a display name ("Attrib <noreply@example.com>", URL-encoded).
	URL string
	// TLSConfig for STARTTLS and smtps; nil: the system's roots, the URL's
	// host as server name.
	TLSConfig *tls.Config
	// Timeout bounds one whole send (connect to QUIT). Default 30 s.
	Timeout time.Duration
	// LocalName is the name given in EHLO. Default "localhost".
	LocalName string
}

// SMTPSender sends each message in its own SMTP session with net/smtp. Safe
// for concurrent use.
type SMTPSender struct {
	addr      string
	host      string
	implicit  bool   // smtps://
	startTLS  string // "true", "false" or "require"
	user      string
	password  string
	from      mail.Address
	tlsConfig *tls.Config
	timeout   time.Duration
	localName string
}

// NewSMTPSender parses cfg.URL and returns a sender. It does not connect:
// a server that is down makes sends fail (and retry), not start-up.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Error repeats the URL, password included: report only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("smtp url %s: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	s := &SMTPSender{startTLS: "true", tlsConfig: cfg.TLSConfig, timeout: cfg.Timeout, localName: cfg.LocalName}
	port := ""
	switch u.Scheme {
	case "smtp":
		port = "25"
	case "smtps":
		port, s.implicit = "465", true
	default:
		return nil, bad("scheme %q: want smtp:// or smtps://", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, bad("want smtp://host:port?from=..., not %s:%s", u.Scheme, u.Opaque)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, bad("no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" {
			return nil, bad("empty user name before @")
		}
	}
	q := u.Query()
	for k := range q {
		if k != "from" && k != "starttls" {
			return nil, bad("unknown parameter %q: want from or starttls", k)
		}
	}
	if q.Get("from") == "" {
		return nil, bad("no sender: add ?from=noreply@example.com")
	}
	from, err := mail.ParseAddress(q.Get("from"))
	if err != nil {
		return nil, bad("from=%q: %v", q.Get("from"), err)
	}
	s.from = *from
	if v := q.Get("starttls"); v != "" {
		switch v {
		case "true", "false", "require":
			s.startTLS = v
		default:
			return nil, bad("starttls=%q: want true, false or require", v)
		}
		if s.implicit {
			return nil, bad("starttls applies to smtp://; smtps:// is TLS from the start")
		}
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	if s.localName == "" {
		s.localName = "localhost"
	}
	return s, nil
}

// From returns the sender address.
func (s *SMTPSender) From() mail.Address { return s.from }

// tlsConf returns the TLS configuration for the server.
func (s *SMTPSender) tlsConf() *tls.Config {
	if s.tlsConfig != nil {
		c := s.tlsConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.host
		}
		return c
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// Send implements Sender: one session, from connect to QUIT. Every error is
// transient except a recipient the server refuses with a 5.1.x status (bad
// mailbox, bad domain, bad address syntax), which is a *PermanentError.
// Other 5xx answers (relay denied, authentication, policy) are retried:
// they usually come from our configuration, and treating them as permanent
// would drop every email until someone noticed.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	// net/smtp knows no context: the deadline bounds every read and write,
	// and a cancelled ctx interrupts them at once.
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.implicit {
		tc := tls.Client(conn, s.tlsConf())
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return fmt.Errorf("smtps %s: TLS handshake: %w", s.addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp %s: greeting: %w", s.addr, err)
	}
	defer c.Close()
	if err := s.session(c, m); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	return nil
}

// session runs EHLO to QUIT on an open client.
func (s *SMTPSender) session(c *smtp.Client, m Message) error {
	if err := c.Hello(s.localName); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !s.implicit && s.startTLS != "false" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConf()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		} else if s.startTLS == "require" {
			return errors.New("server does not offer STARTTLS, and the URL has starttls=require")
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the URL has a user, but the server offers no AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.user, s.password, s.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN as %s: %w", s.user, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM:<%s>: %w", s.from.Address, err)
	}
	if err := c.Rcpt(m.To.Address); err != nil {
		err = fmt.Errorf("RCPT TO:<%s>: %w", m.To.Address, err)
		if badMailbox(err) {
			return &PermanentError{Err: err}
		}
		return err
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(m.Format(s.from)); err != nil {
		_ = w.Close()
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	// The server has accepted the message: a failing QUIT changes nothing,
	// and must not make the caller send it again.
	_ = c.Quit()
	return nil
}

// badMailbox reports whether err is a 5xx reply with an RFC 3463 address
// status (5.1.x): the recipient's address can never work.
func badMailbox(err error) bool {
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code < 500 || te.Code > 599 {
		return false
	}
	return strings.HasPrefix(te.Msg, "5.1.")
}

// NewSender returns the Sender for the command line: SMTP when smtpURL is
// set, otherwise a FileSender writing under "<dataDir>/mail".
func NewSender(smtpURL, dataDir string) (Sender, error) {
	if smtpURL != "" {
		return NewSMTPSender(SMTPConfig{URL: smtpURL})
	}
	if dataDir == "" {
		return nil, errors.New("email sender: neither an SMTP URL nor a data dir for .eml files")
	}
	return FileSender{Dir: filepath.Join(dataDir, "mail")}, nil
}
