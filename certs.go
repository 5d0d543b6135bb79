package router

import (
	"time"

	"github.com/msgrouter/router/config"
)

// now returns the time by o's clock.
func (o StartOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// logCertWarnings logs the certificates of cfg that expire soon.
func (r *Router) logCertWarnings(cfg *config.Config, now time.Time) {
	for _, w := range cfg.Warnings(now) {
		r.log.Warn(w.Error())
	}
}
