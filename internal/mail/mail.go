// Package mail sends the server's emails in the background: through an SMTP server when
// one is configured (INKWELL_SMTP_URL); else, in development, to the terminal, so that
// `make run` needs no mail server and still shows every link it would have sent.
package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one plain-text email.
type Message struct {
	To, Subject, Text string
}

// Transport delivers one message.
type Transport interface {
	Send(ctx context.Context, m Message) error
}

// SMTP returns a transport to the server at rawURL:
//
//	smtp://[user:password@]host[:port][?starttls=mandatory|opportunistic|off]  (port 587)
//	smtps://[user:password@]host[:port]                                         (TLS, port 465)
//
// STARTTLS is mandatory unless the URL says otherwise. from is the sender address.
func SMTP(rawURL, from string) (Transport, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("not a URL of the form smtp://host:port")
	}
	opts := []gomail.Option{gomail.WithTimeout(20 * time.Second)}
	port := 587
	switch u.Scheme {
	case "smtp":
		switch u.Query().Get("starttls") {
		case "", "mandatory":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		case "opportunistic":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		case "off":
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		default:
			return nil, errors.New("starttls must be mandatory, opportunistic or off")
		}
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("scheme %q: want smtp or smtps", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("port %q: %w", p, err)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	client, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, err
	}
	if from == "" {
		return nil, errors.New("a sender address is needed (INKWELL_MAIL_FROM)")
	}
	return smtpTransport{client: client, from: from}, nil
}

type smtpTransport struct {
	client *gomail.Client
	from   string
}

func (s smtpTransport) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return s.client.DialAndSendWithContext(ctx, msg)
}

// Console returns a transport that prints each message to w, for development: the
// developer sees the links at once, and they stay out of the structured log, which must
// hold no addresses or secrets.
func Console(w io.Writer) Transport { return consoleTransport{w: w} }

type consoleTransport struct{ w io.Writer }

var consoleMu sync.Mutex

func (c consoleTransport) Send(_ context.Context, m Message) error {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	_, err := fmt.Fprintf(c.w, "\n--- email (INKWELL_SMTP_URL is not set) ---\nTo: %s\nSubject: %s\n\n%s--- end of email ---\n\n",
		m.To, m.Subject, m.Text)
	return err
}

// Discard returns a transport that sends nothing: production without a mail server.
func Discard() Transport { return discard{} }

type discard struct{}

func (discard) Send(context.Context, Message) error { return nil }

// Outbox sends messages in the background, a few at a time, so that no request waits
// for a mail server. A message that cannot be sent is logged, not retried: the user can
// ask for another.
type Outbox struct {
	t     Transport
	log   *slog.Logger
	slots chan struct{}
	wg    sync.WaitGroup
}

// maxSending bounds the messages in flight; beyond it new ones are dropped and logged.
const maxSending = 16

// NewOutbox returns an outbox over t.
func NewOutbox(t Transport, log *slog.Logger) *Outbox {
	return &Outbox{t: t, log: log, slots: make(chan struct{}, maxSending)}
}

// Queue sends m in the background.
func (o *Outbox) Queue(m Message) {
	select {
	case o.slots <- struct{}{}:
	default:
		o.log.Error("email dropped: too many being sent", slog.String("subject", m.Subject))
		return
	}
	o.wg.Go(func() {
		defer func() { <-o.slots }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := o.t.Send(ctx, m); err != nil {
			o.log.Error("email not sent", slog.String("subject", m.Subject), slog.Any("err", err))
		}
	})
}

// Close waits for the messages being sent.
func (o *Outbox) Close() { o.wg.Wait() }
