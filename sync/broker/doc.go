// Package broker is campusd's embedded MQTT broker: mochi-mqtt
// (github.com/mochi-mqtt/server/v2) with the school's accounts, the topic
// layout of campusgate/sync/wire enforced as an access table, and the
// connection rules that keep one gate from acting as another.
//
// # Accounts
//
// Gates, campusd instances and the district log in with a user name and
// password (Accounts: bcrypt hashes in a JSON file, mode 0600). A gate's user
// name is its gate id. A gate may instead present a TLS client certificate
// (Opts.TLS with ClientCAs); its CN is then the gate id, of Opts.School.
// Server and district user names must not look like gate ids (campusd@hz-001,
// district@...).
//
// # Access table
//
// S is the gate's school, G its id. Exact topics only: a gate's filters may
// not contain wildcards.
//
//	account    may publish                            may subscribe to
//	gate G     campusgate/v1/S/G/entry                campusgate/v1/S/G/ack
//	of S       campusgate/v1/S/G/alert                campusgate/v1/S/G/roster
//	           campusgate/v1/S/G/status               campusgate/v1/S/G/keys
//	           campusgate/v1/S/G/telemetry            campusgate/v1/S/G/revocations
//	                                                  campusgate/v1/S/G/config
//	                                                  campusgate/v1/S/G/cmd
//	server     anything under campusgate/v1/          anything under campusgate/v1/, also
//	                                                  as $share/{group}/campusgate/v1/...
//	district   nothing                                campusgate/v1/+/report/daily,
//	                                                  campusgate/v1/{school}/report/daily
//
// Everything else is refused. Why each rule: a gate that could publish under
// another id could forge admissions and acks; a gate that could read
// another's roster or cmd would learn the school's children and other gates'
// commands; the district gets aggregates only.
//
// Connection rules: a gate's client id must be its gate id, and a server's
// or district's client id must not look like one. Otherwise any account
// could take a gate's session over by using its client id, which knocks the
// gate off and takes its queued messages. A gate's Last Will may only be its
// own status topic (mochi does not check will topics; this package does, at
// CONNECT). A district account may have no will at all.
//
// Rules are checked when a client publishes, when it subscribes, and again
// for every message delivered or queued to it. Rights therefore follow the
// account that connected last with a client id, even for a session it
// inherited.
//
// Every refusal is counted (Broker.Stats) and logged at warning level with
// client id, user name, topic and reason, at most once a minute per client
// id; the next line says how many it left out.
//
// # Caveats
//
//   - MQTT 3.1.1 has no way to tell a publisher its PUBLISH was refused. A
//     refused QoS 1 publish is acknowledged and dropped, as mosquitto does;
//     it is neither delivered nor retained. (Left to itself mochi would
//     disconnect the client, which then resends the same message from its
//     in-flight store on every reconnect.) A gate only finds out because its
//     entries are never acked; the broker's log says why. MQTT 5 clients get
//     reason code 0x87 instead.
//   - A refused subscription gets return code 0x80 in its SUBACK. Mosquitto
//     2.0 may grant it and deliver nothing; tests check delivery, not codes.
//   - Sessions and retained messages live in memory. After a campusd restart
//     gates find no session (they must subscribe again on every connect, as
//     sync/gatelink does), and campusd must publish keys, revocations and
//     config again. Messages are never expired by age (mochi's default of a
//     day would delete retained keys and acks queued over a weekend).
//   - Removing an account does not disconnect a client already connected
//     with it; the rules keep its account until it reconnects.
//   - The bcrypt cache is in memory: the first connection of each gate after
//     a restart costs one bcrypt (about 50-100 ms at the default cost on a
//     small server). Later reconnects cost a SHA-256.
//   - mochi v2.7.9 tears a closed clean-session connection down by client id.
//     A new connection with the same id that arrives during the teardown can
//     lose its subscriptions. Gates use persistent sessions and are not torn
//     down; a campusd instance reconnecting at once should keep its client id
//     only with clean session off.
//   - Wildcard subscriptions are refused to gates even when they would match
//     only the gate's own topics: exact topics are simpler to check, and
//     match what deploy/mosquitto's ACL allows.
//
// deploy/mosquitto has the same rules for a school running mosquitto
// instead; TestMosquittoACL runs this package's access tests against it.
package broker
