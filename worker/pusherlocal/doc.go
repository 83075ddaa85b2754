// Package pusherlocal is a local stand-in for the Pusher Channels HTTP API.
//
// A [Server] checks every request the way Pusher does (app id, key, request signature,
// clock skew, body_md5, channel names and the size limits) and answers with Pusher's
// status codes, so code that talks to it through the real pusher-http-go client meets
// the same failures it would meet in production. Every accepted event is recorded in
// order; tests read them with [Server.Events] or wait for them with [Server.WaitFor].
//
// It has two users. The tests of salerelay mount it with httptest and inject failures
// ([Server.FailNext], [Server.FailAll], [Server.FailChannel], [Server.SetLatency],
// [Server.RefuseConnections], [Server.AcceptEmptyBody]) to prove the delivery
// guarantees. The `salerelay dev` command runs it in-process with [Server.Start] and a
// [Config.Out] writer, so a developer sees each event the relay would have sent:
//
//	srv := pusherlocal.New(pusherlocal.Config{
//		AppID: "1", Key: "key", Secret: "secret", Out: os.Stdout,
//	})
//	addr, err := srv.Start("127.0.0.1:0")
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	client := pusher.Client{AppID: "1", Key: "key", Secret: "secret", Host: addr}
//
// which prints, for each accepted event, a line such as
//
//	pusher: sale-verification-u1 sale:confirmed {"saleId":"s1",...}
//
// Endpoints: POST /apps/{appID}/events, POST /apps/{appID}/batch_events and
// GET /apps/{appID}/channels. The last one always lists no channels; the relay uses it as
// a cheap probe while Pusher looks down. No websocket side exists: nobody subscribes.
package pusherlocal
