package app

import (
	"html/template"
	"net/http"

	"inkwell/internal/apperr"
	"inkwell/internal/service"
)

// verifyPage serves the page a verification link opens. GET only shows a button that
// POSTs the token: mail scanners open links they see, and must not spend the token.
var verifyPage = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Inkwell: confirm your email address</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto">
{{if .Done}}<h1>Email address confirmed</h1><p>You can close this page.</p>
{{else if .Problem}}<h1>This link does not work</h1><p>{{.Problem}}</p>
{{else}}<h1>Confirm your email address</h1>
<form method="post"><input type="hidden" name="token" value="{{.Token}}">
<button type="submit">Confirm</button></form>{{end}}
</body></html>
`))

type verifyView struct {
	Token, Problem string
	Done           bool
}

func verifyEmailHandler(svc *service.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		// The token is in this page's URL: never send it on as a Referer.
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var view verifyView
		status := http.StatusOK
		switch r.Method {
		case http.MethodGet:
			view.Token = r.URL.Query().Get("token")
			if view.Token == "" {
				view.Problem, status = "It has no token.", http.StatusBadRequest
			}
		case http.MethodPost:
			_, err := svc.VerifyEmail(r.Context(), r.PostFormValue("token"))
			switch apperr.CodeOf(err) {
			case "":
				view.Done = true
			case apperr.CodeBadUserInput:
				view.Problem, status = "It was used already, has expired, or was replaced by a newer one. Ask for a new link from your account.", http.StatusBadRequest
			default:
				view.Problem, status = "Something went wrong on our side; try again in a moment.", http.StatusInternalServerError
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(status)
		_ = verifyPage.Execute(w, view)
	})
}
