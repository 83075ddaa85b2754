package pusherlocal

import (
	"encoding/json"
	"net/http"
	"regexp"
	"unicode/utf8"
)

// Pusher's limits, as its HTTP API enforces them (the client library checks fewer and
// looser ones: channels up to 200 characters, no batch size).
const (
	maxChannelLength   = 164
	maxTriggerChannels = 100
	maxBatchEvents     = 10
	maxEventNameLength = 200
	maxDataBytes       = 10240
)

var (
	channelPattern  = regexp.MustCompile(`^[-a-zA-Z0-9_=@,.;]+$`)
	socketIDPattern = regexp.MustCompile(`^\d+\.\d+$`)
)

// decodeFunc turns a verified request body into the events it triggers.
type decodeFunc func(body []byte) ([]Event, *rejection)

// triggerBody is the body of POST /apps/{appID}/events.
type triggerBody struct {
	Name     string   `json:"name"`
	Channels []string `json:"channels"`
	Channel  string   `json:"channel"`
	Data     *string  `json:"data"`
	SocketID *string  `json:"socket_id"`
}

// batchBody is the body of POST /apps/{appID}/batch_events.
type batchBody struct {
	Batch []struct {
		Channel  string  `json:"channel"`
		Name     string  `json:"name"`
		Data     *string `json:"data"`
		SocketID *string `json:"socket_id"`
	} `json:"batch"`
}

// decodeTrigger reads a single trigger: one event on one or more channels.
func decodeTrigger(body []byte) ([]Event, *rejection) {
	var req triggerBody
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, reject(http.StatusBadRequest, "malformed JSON: %v", err)
	}

	channels := req.Channels
	if req.Channel != "" {
		channels = append(channels, req.Channel)
	}
	if len(channels) == 0 {
		return nil, reject(http.StatusBadRequest, "missing channels")
	}
	if len(channels) > maxTriggerChannels {
		return nil, reject(http.StatusBadRequest, "%d channels, at most %d per trigger",
			len(channels), maxTriggerChannels)
	}

	events := make([]Event, 0, len(channels))
	for _, channel := range channels {
		if rej := checkEvent(channel, req.Name, req.Data, req.SocketID); rej != nil {
			return nil, rej
		}
		events = append(events, Event{Channel: channel, Name: req.Name, Data: *req.Data})
	}
	return events, nil
}

// decodeBatch reads a batch: up to ten events, each on one channel.
func decodeBatch(body []byte) ([]Event, *rejection) {
	var req batchBody
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, reject(http.StatusBadRequest, "malformed JSON: %v", err)
	}

	if len(req.Batch) == 0 {
		return nil, reject(http.StatusBadRequest, "missing batch")
	}
	if len(req.Batch) > maxBatchEvents {
		return nil, reject(http.StatusBadRequest, "batch of %d events, at most %d",
			len(req.Batch), maxBatchEvents)
	}

	events := make([]Event, 0, len(req.Batch))
	for _, item := range req.Batch {
		if rej := checkEvent(item.Channel, item.Name, item.Data, item.SocketID); rej != nil {
			return nil, rej
		}
		events = append(events, Event{Channel: item.Channel, Name: item.Name, Data: *item.Data})
	}
	return events, nil
}

// checkEvent applies Pusher's limits to one event on one channel.
func checkEvent(channel, name string, data, socketID *string) *rejection {
	switch {
	case channel == "":
		return reject(http.StatusBadRequest, "missing channel")
	case len(channel) > maxChannelLength:
		return reject(http.StatusBadRequest, "channel name of %d characters, at most %d",
			len(channel), maxChannelLength)
	case !channelPattern.MatchString(channel):
		return reject(http.StatusBadRequest, "invalid channel name %q", channel)
	case name == "":
		return reject(http.StatusBadRequest, "missing event name")
	case utf8.RuneCountInString(name) > maxEventNameLength:
		return reject(http.StatusBadRequest, "event name longer than %d characters",
			maxEventNameLength)
	case data == nil:
		return reject(http.StatusBadRequest, "missing data")
	case len(*data) > maxDataBytes:
		return reject(http.StatusRequestEntityTooLarge,
			"data of %d bytes, at most %d", len(*data), maxDataBytes)
	case socketID != nil && !socketIDPattern.MatchString(*socketID):
		return reject(http.StatusBadRequest, "invalid socket_id %q", *socketID)
	}
	return nil
}
