package interp

import (
	"flag"
	"os"
	"time"
)

// ConnectionFlags are the command-line flags of a program that talks to the fleet: -endpoint,
// -api-key, -tls, -ca-file and -timeout, defaulting from the same environment as Dial.
type ConnectionFlags struct {
	Endpoint string
	APIKey   string
	TLS      bool
	CAFile   string
	Timeout  time.Duration
}

// RegisterFlags adds the connection flags to fs and returns where they land.
func RegisterFlags(fs *flag.FlagSet) *ConnectionFlags {
	f := &ConnectionFlags{}
	endpoint := os.Getenv("INTERP_ENDPOINT")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	fs.StringVar(&f.Endpoint, "endpoint", endpoint, "gateway host:port ($INTERP_ENDPOINT)")
	fs.StringVar(&f.APIKey, "api-key", os.Getenv("INTERP_API_KEY"), "API key ($INTERP_API_KEY; for a local fleet, the key it published)")
	fs.BoolVar(&f.TLS, "tls", false, "connect over TLS ($INTERP_TLS)")
	fs.StringVar(&f.CAFile, "ca-file", "", "PEM file of the CAs to trust (implies -tls; $INTERP_CA_FILE)")
	fs.DurationVar(&f.Timeout, "timeout", 5*time.Minute, "deadline of each call")
	return f
}

// Dial connects with the flags' settings (extra options apply after them).
func (f *ConnectionFlags) Dial(extra ...Option) (*Client, error) {
	opts := []Option{WithTimeout(f.Timeout)}
	if f.APIKey != "" {
		opts = append(opts, WithAPIKey(f.APIKey))
	}
	if f.TLS {
		opts = append(opts, WithTLS(true))
	}
	if f.CAFile != "" {
		opts = append(opts, WithCAFile(f.CAFile))
	}
	return Dial(f.Endpoint, append(opts, extra...)...)
}
