package config_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/imapmigrate/imapmigrate/internal/config"
)

// A file sets the database and the worker count; the environment raises the
// worker count again, as a container deployment would.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "config")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "imapmigrate.toml")
	os.WriteFile(path, []byte(`
data = "/srv/imapmigrate"
database = "postgres://mig:hunter2@db.example.com/mig"
workers = 20
job_slice = "10m"
`), 0o600)
	environ := map[string]string{"IMAPMIGRATE_WORKERS": "40"}

	c, err := config.Load(path, func(k string) string { return environ[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Validate())
	fmt.Println(c.Workers, c.JobSlice, c.SecretKeyFile)
	fmt.Println(c.Redacted().Database)
	// Output:
	// []
	// 40 10m0s /srv/imapmigrate/secret.key
	// postgres://mig:xxxxx@db.example.com/mig
}
