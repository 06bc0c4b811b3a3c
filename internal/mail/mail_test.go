package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"inkwell/internal/mail"
	"inkwell/internal/mailtest"
)

func TestSMTPURL(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"smtp://mail.example.com", "smtp://u:p@mail.example.com:2525?starttls=opportunistic",
		"smtp://127.0.0.1:1025?starttls=off", "smtps://u:p@mail.example.com",
	} {
		if _, err := mail.SMTP(ok, "no-reply@example.com"); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"mail.example.com", "http://mail.example.com", "smtp://mail.example.com?starttls=sometimes",
		"smtp://mail.example.com:port",
	} {
		if _, err := mail.SMTP(bad, "no-reply@example.com"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := mail.SMTP("smtp://mail.example.com", ""); err == nil {
		t.Error("no sender: no error")
	}
}

// Without a mail server, in development, the message, link included, is printed.
func TestConsoleTransport(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	out := mail.NewOutbox(mail.Console(&buf), slog.Default())
	out.Queue(mail.Message{To: "a@example.com", Subject: "Confirm", Text: "open https://x.example/verify?token=abc"})
	out.Close()
	if !strings.Contains(buf.String(), "https://x.example/verify?token=abc") || !strings.Contains(buf.String(), "a@example.com") {
		t.Fatalf("log = %q", buf.String())
	}
}

// Through a real SMTP server, sender, recipient, subject and text arrive.
func TestSMTPDelivers(t *testing.T) {
	t.Parallel()
	mp := mailtest.Start(t)
	tr, err := mail.SMTP(mp.SMTPURL(), "Inkwell <no-reply@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), mail.Message{To: "reader@example.com", Subject: "Hello", Text: "line one\nline two\n"}); err != nil {
		t.Fatal(err)
	}
	m := mp.Wait(t, "reader@example.com", 1)[0]
	if m.Subject != "Hello" || !strings.Contains(m.Text, "line two") || m.From.Address != "no-reply@example.com" {
		t.Fatalf("received %+v", m)
	}
}
