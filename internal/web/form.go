package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// readForm reads the fields of a POST, url-encoded or multipart. Uploaded
// files are read into memory: a CSV file holds passwords, and
// ParseMultipartForm would write a large one to a temporary file.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, map[string]string, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return nil, nil, formError(err)
		}
		return r.PostForm, nil, nil
	}
	if params["boundary"] == "" {
		return nil, nil, fmt.Errorf("%w: multipart form without a boundary", errBadRequest)
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, maxUpload), params["boundary"])
	values, files := url.Values{}, map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return values, files, nil
		}
		if err != nil {
			return nil, nil, formError(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, formError(err)
		}
		// A file input left empty comes as a part with no file name.
		if p.FileName() != "" {
			files[p.FormName()] = string(b)
		} else {
			values.Add(p.FormName(), string(b))
		}
	}
}

func formError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("%w: more than %d bytes", errTooLarge, tooLarge.Limit)
	}
	return fmt.Errorf("%w: unreadable form: %v", errBadRequest, err)
}

// splitList reads "a, b,,c" as [a b c].
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseInterval reads a Go duration ("24h", "90m") or whole days ("2d").
func parseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("%q is not an interval of a minute or more: write 24h, 90m or 2d", s)
	}
	return d, nil
}

// dateLayout is <input type="date">'s; datetime-local values are read by
// service.ParseWhen.
const dateLayout = "2006-01-02"

// parseLocalTime reads a datetime-local value in the server's time zone.
func parseLocalTime(s string, layouts ...string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("%q is not a date and time such as %s", s, layouts[0])
}

// atoiField reads an optional whole number; "" is 0 (the default).
func atoiField(label, s string, least int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		return 0, fmt.Errorf("%s: %q is not a whole number of %d or more", label, s, least)
	}
	return n, nil
}
