package router

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

	"github.com/msgrouter/router/config"

	"github.com/knadh/koanf/providers/file"
)

// watchDebounce is how long a file must stay unchanged after a change
// before it is reloaded: an editor's save is often several writes (and
// a truncate), which should make one reload of the finished file.
const watchDebounce = 100 * time.Millisecond

// watchRetry is how often a watch that stopped (the file was removed,
// or replaced in a way that ended it) is set up again.
const watchRetry = 250 * time.Millisecond

// Watch reloads the router from the file at path, with o, whenever the
// file changes (see ReloadFile), until ctx ends or the router shuts
// down. It watches the file's directory through koanf's file provider
// (fsnotify), so an editor that saves by writing a new file and
// renaming it over the old one is seen too, and a file removed and
// created again is watched again. A change that leaves the file as it
// was when last applied is ignored. Each reload, and each rejection with
// its reasons, is logged.
//
// It returns once the watch is set up, or the error that prevents it.
func (r *Router) Watch(ctx context.Context, path string, o config.LoadOptions) error {
	if path == "" {
		return errors.New("router: Watch needs a file")
	}
	w, events, ends, err := watchFile(path)
	if err != nil {
		return &config.Error{Source: path, Msg: "cannot watch the file: " + err.Error(), Err: config.ErrFile, Cause: err}
	}
	r.mu.Lock()
	if r.appliedB == nil {
		r.appliedB, _ = os.ReadFile(path)
	}
	r.mu.Unlock()
	go r.watchLoop(ctx, path, o, w, events, ends)
	return nil
}

// watchFile watches path: a value on changes for each change (one is
// kept while one is pending), and the error that ended the watch on
// ends.
func watchFile(path string) (w *file.File, changes chan struct{}, ends chan error, err error) {
	if _, err := os.Stat(path); err != nil {
		// koanf's Watch leaves its provider locked when the file is
		// missing: never hand it one that is.
		return nil, nil, nil, err
	}
	w = file.Provider(path)
	changes = make(chan struct{}, 1)
	ends = make(chan error, 1) // koanf ends a watch with one error at most
	err = w.Watch(func(_ any, err error) {
		if err != nil {
			select {
			case ends <- err:
			default:
			}
			return
		}
		select {
		case changes <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return w, changes, ends, nil
}

func (r *Router) watchLoop(ctx context.Context, path string, o config.LoadOptions, w *file.File, events chan struct{}, ends chan error) {
	log := r.log.With("file", path)
	log.Info("watching the config file for changes")
	var debounce <-chan time.Time
	var retry <-chan time.Time
	defer func() {
		if w != nil {
			w.Unwatch()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.done:
			return
		case err := <-ends:
			log.Warn("the config file watch stopped; watching again", "error", err)
			w.Unwatch()
			w, events, ends = nil, nil, nil
			retry = time.After(watchRetry)
			debounce = nil
		case <-events:
			debounce = time.After(watchDebounce)
		case <-retry:
			nw, nev, nends, err := watchFile(path)
			if err != nil {
				retry = time.After(watchRetry)
				continue
			}
			// A file removed and created again has changed.
			w, events, ends, retry = nw, nev, nends, nil
			log.Info("watching the config file again")
			debounce = time.After(watchDebounce)
		case <-debounce:
			debounce = nil
			b, err := os.ReadFile(path)
			r.mu.Lock()
			same := err == nil && r.appliedB != nil && bytes.Equal(b, r.appliedB)
			r.mu.Unlock()
			if same {
				log.Debug("config file changed but its content is what runs; nothing to do")
				continue
			}
			reload := r.ReloadFile
			if r.reloadFileFn != nil {
				reload = r.reloadFileFn
			}
			if err := reload(ctx, path, o); err == nil {
				log.Info("reloaded the config file")
			}
		}
	}
}
