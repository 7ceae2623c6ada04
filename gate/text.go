package gate

import (
	"maps"
	"slices"
)

// State is where the flow is with the person at the gate. Every state has a
// message for that person, in Chinese first and English beneath.
type State string

// The states of the flow, in the order a person meets them.
const (
	StateReady     State = "ready"     // waiting for a scan
	StateIdentify  State = "identify"  // checking the code
	StatePresence  State = "presence"  // waiting for a forehead
	StateMeasuring State = "measuring" // taking a stable reading
	StateRetest    State = "retest"    // a first reading was high: pause, then measure again
	StateRetry     State = "retry"     // the reading failed: measure again
	StateReferred  State = "referred"  // waiting for the guard
	StateAdmitted  State = "admitted"  // the gate opens
	StateDenied    State = "denied"    // the gate stays shut
	StateFault     State = "fault"     // the box cannot admit anyone (journal, sensor)
	StateEmergency State = "emergency" // held open by the guard
)

// Text is one message in both languages.
type Text struct{ ZH, EN string }

// In returns the message in lang ("en" or anything else for Chinese).
func (t Text) In(lang string) string {
	if lang == "en" {
		return t.EN
	}
	return t.ZH
}

var stateText = map[State]Text{
	StateReady:     {"请扫码或出示通行码", "Please scan your pass"},
	StateIdentify:  {"正在核验身份…", "Checking your pass…"},
	StatePresence:  {"请将额头靠近测温区", "Hold your forehead to the sensor"},
	StateMeasuring: {"正在测温，请保持不动", "Measuring, please hold still"},
	StateRetest:    {"体温偏高，请稍候复测", "Temperature high: please wait for a retest"},
	StateRetry:     {"测温未成功，请再测一次", "Please measure again"},
	StateReferred:  {"请稍候，门卫将为您处理", "Please wait for the guard"},
	StateAdmitted:  {"体温正常，请通行", "Please go in"},
	StateDenied:    {"禁止通行", "Entry refused"},
	StateFault:     {"设备故障，请联系门卫", "Out of order: please see the guard"},
	StateEmergency: {"紧急开启", "Emergency open"},
}

// Message is the person-facing message of a state.
func (s State) Message() Text { return stateText[s] }

// States are every state of the flow, in the order a person meets them: for
// what must say something in each (the person's screen, the voice).
func States() []State {
	return []State{StateReady, StateIdentify, StatePresence, StateMeasuring, StateRetest, StateRetry,
		StateReferred, StateAdmitted, StateDenied, StateFault, StateEmergency}
}

// Reason is why a decision was made: a stable code stored in the journal and sent
// to the server, with a message for the person at the gate.
type Reason string

// Reasons of the flow's own policy; the pass package has the credential ones
// (malformed, unknown_key, bad_signature, not_yet_valid, expired, revoked,
// not_on_roster, role_not_allowed), which the flow uses unchanged.
const (
	ReasonOK              Reason = "ok"
	ReasonOutsideWindowOK Reason = "outside_window_warned" // admitted, but outside the grade's arrival window
	ReasonHealthRed       Reason = "health_red"
	ReasonHealthYellow    Reason = "health_yellow"
	ReasonHealthUnknown   Reason = "health_unknown"
	ReasonNoDailyPass     Reason = "no_daily_pass"
	ReasonNoReportFlagged Reason = "no_daily_pass_flagged" // admitted, but no morning report: flagged
	ReasonSymptomsFlagged Reason = "health_yellow_flagged" // admitted, but the morning report shows symptoms: flagged
	ReasonMiddayOK        Reason = "midday_ok"             // a midday check with a normal temperature
	ReasonOutsideWindow   Reason = "outside_window"
	ReasonAntiPassback    Reason = "anti_passback"
	ReasonFever           Reason = "fever"
	ReasonImplausible     Reason = "temp_implausible"
	ReasonSensorError     Reason = "sensor_error" // the sensor does not answer (or reads nonsense): referred to the guard
	ReasonSensorStuck     Reason = "sensor_stuck" // the sensor's reading is frozen: referred to the guard's handheld thermometer
	ReasonSensorDrift     Reason = "sensor_drift" // the sensor reads low over many people: referred to the guard's handheld thermometer
	ReasonTimeout         Reason = "timeout"
	ReasonJournalError    Reason = "journal_error"
	ReasonJournalFull     Reason = "journal_full" // the journal's disk or size limit is reached: nothing can be recorded
	ReasonGuardAdmit      Reason = "guard_admit"
	ReasonGuardDeny       Reason = "guard_deny"
	ReasonEmergencyOpen   Reason = "emergency_open"
	ReasonEmergencyClose  Reason = "emergency_close"
	ReasonRemoteOpen      Reason = "remote_open" // opened by a signed command from the school server
)

var reasonText = map[Reason]Text{
	ReasonOK:              {"体温正常，请通行", "Please go in"},
	ReasonOutsideWindowOK: {"非本年级入校时段，已记录", "Outside your grade's arrival time: noted"},
	ReasonHealthRed:       {"健康码红码，禁止入校", "Red health status: entry refused"},
	ReasonHealthYellow:    {"健康码黄码，禁止入校", "Yellow health status: entry refused"},
	ReasonHealthUnknown:   {"无健康状态，请联系门卫", "No health status: please see the guard"},
	ReasonNoDailyPass:     {"今日未提交晨检报告", "No morning health report today"},
	ReasonNoReportFlagged: {"未提交晨检报告，已通知班主任，请通行", "No morning report: your teacher is told. Please go in"},
	ReasonSymptomsFlagged: {"晨检报告有症状，已通知校医，请通行", "Symptoms in the morning report: the nurse is told. Please go in"},
	ReasonMiddayOK:        {"午检体温正常", "Midday check: temperature normal"},
	ReasonOutsideWindow:   {"未到本年级入校时间", "Not your grade's arrival time"},
	ReasonAntiPassback:    {"未刷出校，不能再次入校", "Already inside: no exit recorded"},
	ReasonFever:           {"体温异常，请到临时隔离室等候", "High temperature: please wait in the isolation room"},
	ReasonImplausible:     {"测温异常，请联系门卫", "Reading not valid: please see the guard"},
	ReasonSensorError:     {"测温设备故障，请联系门卫", "Thermometer fault: please see the guard"},
	ReasonSensorStuck:     {"测温设备读数异常，请门卫手持测温", "Thermometer reading stuck: the guard will take your temperature"},
	ReasonSensorDrift:     {"测温设备需校准，请门卫手持测温", "Thermometer needs calibration: the guard will take your temperature"},
	ReasonTimeout:         {"超时，请重新扫码", "Timed out: please scan again"},
	ReasonJournalError:    {"设备故障，请联系门卫", "Out of order: please see the guard"},
	ReasonJournalFull:     {"存储已满，闸门保持关闭，请联系门卫", "Storage full (journal full): the gate stays shut, please see the guard"},
	ReasonGuardAdmit:      {"门卫已放行", "Admitted by the guard"},
	ReasonGuardDeny:       {"门卫拒绝通行", "Refused by the guard"},
	ReasonEmergencyOpen:   {"紧急开启", "Emergency open"},
	ReasonEmergencyClose:  {"紧急开启结束", "Emergency open ended"},
	ReasonRemoteOpen:      {"学校远程开门，请通行", "Opened by the school: please go in"},
	"malformed":           {"无法识别的码，请重新扫码", "Code not recognised: please scan again"},
	"unknown_key":         {"非本校签发的通行码", "Pass not issued by this school"},
	"bad_signature":       {"通行码无效", "Pass not valid"},
	"not_yet_valid":       {"通行码尚未生效", "Pass not valid yet"},
	"expired":             {"通行码已过期", "Pass expired"},
	"revoked":             {"通行码已作废", "Pass revoked"},
	"not_on_roster":       {"不在本校名单中", "Not on this school's list"},
	"role_not_allowed":    {"此门不允许该身份通行", "Not allowed in at this gate"},
}

// Reasons are every code a decision of the flow can carry, sorted: its own
// and the pass package's.
func Reasons() []Reason { return slices.Sorted(maps.Keys(reasonText)) }

// Flagged reasons are admissions with something to follow up: the person goes
// in, and the reason says what the school must look at.
func (r Reason) Flagged() bool {
	return r == ReasonOutsideWindowOK || r == ReasonNoReportFlagged || r == ReasonSymptomsFlagged
}

// Message is the person-facing message of a reason; an unknown code gets the
// plain refusal so nothing is ever shown blank.
func (r Reason) Message() Text {
	if t, ok := reasonText[r]; ok {
		return t
	}
	return stateText[StateDenied]
}
