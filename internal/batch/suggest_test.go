package batch

import "testing"

func TestSuggestColumn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"MissingLetter", "EmailAdress", "EmailAddress"},
		{"Spaces", "Email Address", "EmailAddress"},
		{"Underscore", "user_name", "UserName"},
		{"Hyphen", "Destination-Password", "DestinationPassword"},
		{"Transposed", "Pasword", "Password"},
		{"LongTypo", "DestinatonUserNmae", "DestinationUserName"},
		{"UserRoot", "User Root", "UserRoot"},
		{"TooFar", "Quota", ""},
		{"TooShort", "User", ""},
		{"Empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := suggestColumn(tt.in); got != tt.want {
				t.Errorf("suggestColumn(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
		{"emailadress", "emailaddress", 1},
		{"jörg", "jorg", 1},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
