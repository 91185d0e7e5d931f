package redisconn

import "github.com/studiohq/studio/health"

// TLSState reports the TLS of c's data-node connections for the health
// view: whether they use TLS (c.TLS set), whether verification is off, and
// when the client certificate in use and the server certificate last seen
// expire. It does no I/O.
func (c Config) TLSState() health.TLS {
	st := health.TLS{Enabled: c.TLS != nil, InsecureSkipVerify: c.InsecureTLS()}
	if c.TLS != nil {
		d := c.TLS.Data()
		st.ClientCertExpiry, st.ServerCertExpiry = d.ClientCertExpiry(), d.ServerCertExpiry()
	}
	return st
}
