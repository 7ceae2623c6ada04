package console

import (
	"fmt"
	"net/http"
)

// lang is the viewer's language: "zh" (the default: the console speaks to a
// Chinese school) or "en".
type lang string

// langOf is the language the viewer chose (the switch in the header sets a
// cookie), Chinese until they do: a school's phones and PCs often run an
// English browser, and the school works in Chinese.
func langOf(r *http.Request) lang {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "en" || c.Value == "zh") {
		return lang(c.Value)
	}
	return "zh"
}

// T is the message for key; a key missing from the catalogue shows as
// itself, which a test catches.
func (l lang) T(key string) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	if l == "en" {
		return m[1]
	}
	return m[0]
}

// Tf is T with fmt arguments.
func (l lang) Tf(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

// Lang is the language code, for <html lang>.
func (l lang) Lang() string {
	if l == "en" {
		return "en"
	}
	return "zh-CN"
}

// Other is the language to switch to.
func (l lang) Other() string {
	if l == "en" {
		return "zh"
	}
	return "en"
}

// catalog: key → {Chinese, English}.
var catalog = map[string][2]string{
	"app.name":        {"校园门禁检测系统", "Campus gate checkpoint"},
	"app.lang_switch": {"English", "中文"},
	"app.logout":      {"退出", "Log out"},
	"app.password":    {"修改密码", "Password"},
	"app.live_lost":   {"实时连接中断，正在重连…", "Live connection lost, reconnecting…"},
	"app.store_full": {"服务器磁盘已满（自 %s 起），数据库无法写入。闸机照常检测、放行，通行记录保存在各闸机上，腾出空间后自动补传，不会丢失；在此之前新的记录不会显示在这里（发热预警除外）。请管理员清理服务器磁盘。",
		"The server's disk is full (since %s): its database cannot be written. The gates go on checking and admitting people and keep their records, which come in once there is space again: nothing is lost, but new entries do not show here until then (fever alerts do). The administrator must free disk space on the server."},
	"app.store_failing": {"服务器数据库无法写入（自 %s 起）。闸机照常检测、放行，通行记录保存在各闸机上，恢复后自动补传，不会丢失；在此之前新的记录不会显示在这里（发热预警除外）。请管理员查看服务器日志。",
		"The server's database cannot be written (since %s). The gates go on checking and admitting people and keep their records, which come in once it works again: nothing is lost, but new entries do not show here until then (fever alerts do). The administrator should look at the server's log."},
	"app.disk_full":   {"服务器磁盘已满，未能保存。请管理员清理服务器磁盘后再试。", "The server's disk is full: nothing was saved. Try again once the administrator has freed disk space on the server."},
	"app.none":        {"无", "None"},
	"app.save":        {"保存", "Save"},
	"app.search":      {"查询", "Search"},
	"app.export_csv":  {"导出 CSV", "Export CSV"},
	"app.more":        {"更多", "More"},
	"app.back":        {"返回", "Back"},
	"app.print":       {"打印", "Print"},
	"app.yes":         {"是", "yes"},
	"app.no":          {"否", "no"},
	"app.all":         {"全部", "All"},
	"app.forbidden":   {"您的账号无权访问此页面。", "Your account may not see this page."},
	"app.not_found":   {"没有找到。", "Not found."},
	"app.minutes_ago": {"%d 分钟前", "%d min ago"},
	"app.total":       {"合计", "Total"},
	"app.sound_on":    {"开启提示音", "Turn on the alert sound"},
	"app.sound_ready": {"提示音已开启", "Alert sound on"},

	"nav.home":      {"首页", "Home"},
	"nav.alerts":    {"发热预警", "Fever alerts"},
	"nav.isolation": {"临时隔离室", "Isolation room"},
	"nav.entries":   {"出入记录", "Entry log"},
	"nav.report":    {"日报告", "Daily report"},
	"nav.absences":  {"缺勤追访", "Absences"},
	"nav.roster":    {"名单", "Roster"},
	"nav.passes":    {"通行码", "Passes"},
	"nav.visitors":  {"访客", "Visitors"},
	"nav.gates":     {"门岗设备", "Gates"},
	"nav.accounts":  {"账号", "Accounts"},
	"nav.audit":     {"审计日志", "Audit log"},

	"role.admin":        {"管理员", "Admin"},
	"role.nurse":        {"校医", "Nurse"},
	"role.head_teacher": {"班主任", "Head teacher"},
	"role.guard":        {"门卫", "Guard"},
	"role.district":     {"教育局", "District"},
	"role.pupil":        {"学生", "Pupil"},
	"role.staff":        {"教职工", "Staff"},
	"role.visitor":      {"访客", "Visitor"},
	"role.parent":       {"家长", "Parent"},

	"login.title":    {"登录", "Log in"},
	"login.username": {"用户名", "User name"},
	"login.password": {"密码", "Password"},
	"login.submit":   {"登录", "Log in"},
	"login.failed":   {"用户名或密码错误。", "Wrong user name or password."},
	"login.disk_full": {"服务器磁盘已满，暂时无法登录。已经打开的页面仍可查看；请管理员清理服务器磁盘。",
		"The server's disk is full: signing in is not possible until the administrator frees disk space. Pages already open still work."},
	"login.locked": {"登录失败次数过多，请 %d 分钟后再试。", "Too many failed logins: try again in %d minutes."},

	"home.title":        {"今日概况", "Today"},
	"home.arrived":      {"已入校", "Arrived"},
	"home.expected":     {"应到", "Expected"},
	"home.fevers":       {"发热", "Fevers"},
	"home.denied":       {"拒绝入校", "Refused"},
	"home.open_alerts":  {"未处理预警", "Open alerts"},
	"home.gates_online": {"在线门岗", "Gates online"},

	"alerts.title":   {"发热预警", "Fever alerts"},
	"alerts.open":    {"待处理", "To handle"},
	"alerts.handled": {"今日已处理", "Handled today"},
	"alerts.person":  {"人员", "Person"},
	"alerts.class":   {"班级", "Class"},
	"alerts.temps":   {"体温", "Temperatures"},
	"alerts.gate":    {"门岗", "Gate"},
	"alerts.time":    {"时间", "Time"},
	"alerts.ack":     {"确认收到", "Acknowledge"},
	"alerts.unsaved": {"未能保存的发热预警", "Fever alerts not saved"},
	"alerts.unsaved_note": {"服务器无法写入数据库（见页首）：这些预警只显示在这里，暂存在服务器内存中。服务器重启后，闸机重发这些记录时会再次显示（闸机离线则不会），请记下。请照常处置这些发热人员；数据库恢复后它们会转入待处理，届时再确认并登记结果。",
		"The server cannot write its database (see the top of the page): these alerts are shown only here, held in the server's memory. If the server restarts they come back as the gates send their entries again (not while a gate is offline): note them down. See to these people as usual; once the database works again they move to the open alerts, to be acknowledged and recorded then."},
	"alerts.acked_by":   {"%s 已确认", "acknowledged by %s"},
	"alerts.escalated":  {"超时未确认，已上报管理员", "Not acknowledged in time: escalated to the admins"},
	"alerts.outcome":    {"处理结果", "Outcome"},
	"alerts.retest":     {"复测体温 (°C)", "Retest (°C)"},
	"alerts.note":       {"备注", "Note"},
	"alerts.record":     {"记录", "Record"},
	"alerts.none":       {"目前没有待处理的发热预警。", "No fever alert to handle."},
	"alerts.device":     {"设备与命令告警", "Device and command alerts"},
	"alerts.history":    {"处理记录", "History"},
	"alerts.recorded":   {"已记录。", "Recorded."},
	"alerts.acked":      {"已确认。", "Acknowledged."},
	"outcome.retest":    {"复测中", "Retested"},
	"outcome.isolated":  {"已送临时隔离室", "In the isolation room"},
	"outcome.collected": {"家长已接回", "Collected by a parent"},
	"outcome.cleared":   {"复测正常，已入校", "Cleared and admitted"},
	"outcome.referred":  {"已送医", "Referred to hospital"},

	"isolation.title": {"临时隔离室", "Isolation room"},
	"isolation.since": {"等候自", "Waiting since"},
	"isolation.wait":  {"已等候", "Waiting"},
	"isolation.none":  {"隔离室目前无人等候。", "Nobody is waiting in the isolation room."},

	"entries.title":    {"出入记录", "Entry log"},
	"entries.from":     {"从", "From"},
	"entries.to":       {"至", "To"},
	"entries.gate":     {"门岗", "Gate"},
	"entries.person":   {"人员（学号或姓名）", "Person (id or name)"},
	"entries.grade":    {"年级", "Grade"},
	"entries.class":    {"班级", "Class"},
	"entries.decision": {"结果", "Decision"},
	"entries.reason":   {"原因", "Reason"},
	"entries.time":     {"时间", "Time"},
	"entries.name":     {"姓名", "Name"},
	"entries.temp":     {"体温", "Temperature"},
	"entries.guard":    {"门卫", "Guard"},
	"entries.none":     {"没有符合条件的记录。", "No entries match."},
	"entries.shown":    {"显示前 %d 条", "First %d shown"},
	"entries.timeline": {"%s 的出入记录", "Entries of %s"},
	"decision.admit":   {"放行", "Admitted"},
	"decision.deny":    {"拒绝", "Refused"},
	"decision.refer":   {"转门卫", "To the guard"},

	"report.title":        {"日报告", "Daily report"},
	"report.day":          {"日期", "Day"},
	"report.grade":        {"年级", "Grade"},
	"report.class":        {"班级", "Class"},
	"report.expected":     {"应到", "Expected"},
	"report.arrived":      {"实到", "Arrived"},
	"report.not_arrived":  {"未到", "Not arrived"},
	"report.fevers":       {"发热", "Fevers"},
	"report.denied":       {"拒绝", "Refused"},
	"report.staff":        {"教职工", "Staff"},
	"report.arrivals":     {"每 5 分钟入校人数（按门岗）", "Arrivals per 5 minutes, by gate"},
	"report.fevers_daily": {"近 30 天每日发热人数", "People with a fever, last 30 days"},
	"report.zero":         {"今日无异常（零报告）", "Nothing to report today (zero report)"},

	"absences.title":      {"缺勤追访", "Absence follow-up"},
	"absences.cutoff":     {"截止时间", "Cutoff"},
	"absences.intro":      {"截至 %s 仍未入校的人员，请当天记录原因。", "Everyone expected who had not come in by %s: record why, today."},
	"absences.reason":     {"原因", "Reason"},
	"absences.none":       {"所有人都已入校。", "Everyone has arrived."},
	"absences.phone":      {"监护人电话", "Guardian's phone"},
	"absences.by":         {"记录人", "Recorded by"},
	"absences.late":       {"迟到（%s 入校）", "Late (in at %s)"},
	"absences.past":       {"只能记录当天的缺勤原因。", "Reasons are recorded on the day only."},
	"absence.sick":        {"病假", "Sick"},
	"absence.leave":       {"事假", "Leave"},
	"absence.unreachable": {"联系不上", "Unreachable"},
	"absence.other":       {"其他", "Other"},

	"nav.morning": {"晨检", "Morning reports"},

	"family.title":        {"家庭每日晨检报告", "Family morning health report"},
	"family.intro":        {"请在孩子出门上学前填写。每天一次，可以修改。", "Fill this in before your child leaves for school: once a day, and you may correct it."},
	"family.temp":         {"在家测量的体温 (°C)", "Temperature taken at home (°C)"},
	"family.symptoms":     {"今天的症状（没有就不选）", "Symptoms today (none: tick nothing)"},
	"family.contact":      {"近 14 天是否接触中高风险地区人员", "Contact with anyone from a high-risk area in the last 14 days"},
	"family.location":     {"孩子目前所在地（如：本市）", "Where the child is now (e.g. in the city)"},
	"family.submit":       {"提交", "Send"},
	"family.saved":        {"已提交，谢谢！", "Sent, thank you!"},
	"family.reported":     {"今日已报告（%s）：%s", "Reported today (%s): %s"},
	"family.none_yet":     {"今日尚未报告", "Not reported yet today"},
	"family.bad_link":     {"这个链接无效或已被学校更换，请联系班主任。", "This link is not valid or the school replaced it: please ask the head teacher."},
	"family.not_yours":    {"这个孩子不在您的链接中。", "This child is not on your link."},
	"family.bad_temp":     {"请填写 34 到 43 °C 之间的体温。", "Please give a temperature between 34 and 43 °C."},
	"family.need_contact": {"请选择是否接触过中高风险地区人员。", "Please say whether there was such contact."},
	"family.bad_location": {"所在地最多 100 字。", "At most 100 characters for where the child is."},
	"family.no_children":  {"这个链接下没有学生，请联系班主任。", "No pupil on this link: please ask the head teacher."},
	"status.green":        {"正常", "well"},
	"status.yellow":       {"有症状", "symptoms"},
	"status.red":          {"发热或接触风险", "fever or contact"},
	"symptom.fever":       {"发热", "Fever"},
	"symptom.cough":       {"咳嗽", "Cough"},
	"symptom.sore_throat": {"咽痛", "Sore throat"},
	"symptom.fatigue":     {"乏力", "Fatigue"},
	"symptom.diarrhoea":   {"腹泻", "Diarrhoea"},
	"symptom.other":       {"其他不适", "Other"},
	"morning.title":       {"家庭晨检报告", "Family morning reports"},
	"morning.counts":      {"已报告 %d，未报告 %d；有症状 %d，发热或接触风险 %d", "%d reported, %d not yet; %d with symptoms, %d fever or contact"},
	"morning.not_yet":     {"未报告", "not reported"},
	"morning.links":       {"生成并打印家长链接", "Make and print the families' links"},
	"morning.links_help":  {"每户一个链接（按监护人电话），新链接会替换旧链接。链接只显示这一次，请打印。", "One link a family (by the guardian's phone); a new link replaces the old. The links are shown only now: print them."},
	"morning.letter":      {"%s 家长：请每天早上用手机扫码或打开以下链接，填写孩子的晨检报告。", "To the family of %s: every morning, scan this code or open the link below on your phone and fill in the morning report."},

	"nav.arrival":           {"错时入校", "Arrival times"},
	"arrival.title":         {"错时分段入校", "Staggered arrival"},
	"arrival.help":          {"为每个年级设定入校时段，下发到所有门岗。留空表示该年级不限时段。", "Set each grade's arrival window; it goes to every gate. Leave a grade empty for no window."},
	"arrival.policy":        {"时段外到校", "Outside the window"},
	"arrival.warn":          {"放行并记录", "admit and note"},
	"arrival.deny":          {"拒绝入校", "refuse"},
	"arrival.start":         {"开始", "From"},
	"arrival.end":           {"结束", "Until"},
	"arrival.window":        {"时段", "Window"},
	"arrival.in":            {"按时", "In time"},
	"arrival.early":         {"提前", "Early"},
	"arrival.late":          {"迟到", "Late"},
	"report.midday_checked": {"午检", "Midday checked"},
	"report.midday_missed":  {"午检漏检", "Midday missed"},

	"visitors.walk_ins": {"今日门岗登记的访客", "Walk-in visitors registered at the gates today"},

	"roster.title":              {"名单", "Roster"},
	"roster.version":            {"名单版本 %d，共 %d 人", "Roster version %d, %d people"},
	"roster.import":             {"导入名单（CSV）", "Import the roster (CSV)"},
	"roster.import_help":        {"第一行为列名：学号, 姓名, 身份, 年级, 班级, 卡号, 监护人电话（或 id, name, role, grade, class, card_id, guardian_phone）。文件须完全正确才会导入，导入后替换整个名单并下发到各门岗。", "The first line names the columns: id, name, role, grade, class, card_id, guardian_phone (or in Chinese). Nothing is applied unless the whole file is correct; then it replaces the roster and goes down to the gates."},
	"roster.file":               {"文件", "File"},
	"roster.dry_run":            {"只检查，不导入", "Check only, do not apply"},
	"roster.submit":             {"上传", "Upload"},
	"roster.errors":             {"文件有 %d 处错误，未导入：", "The file has %d errors; nothing was applied:"},
	"roster.line":               {"行", "Line"},
	"roster.column":             {"列", "Column"},
	"roster.problem":            {"问题", "Problem"},
	"roster.checked":            {"文件正确：%d 人（新增 %d，修改 %d，删除 %d）。未导入。", "The file is correct: %d people (%d new, %d changed, %d removed). Not applied."},
	"roster.applied":            {"已导入 %d 人（新增 %d，修改 %d，删除 %d），名单版本 %d，正在下发到门岗。", "Imported %d people (%d new, %d changed, %d removed), roster version %d, going down to the gates."},
	"roster.err.read":           {"无法读取文件：%s", "cannot read the file: %s"},
	"roster.err.too_big":        {"文件过大（最大 %s MB）", "file too big (at most %s MB)"},
	"roster.err.encoding":       {"文件不是 UTF-8 或 GB18030 编码的文本", "not UTF-8 or GB18030 text"},
	"roster.err.empty":          {"文件为空", "empty file"},
	"roster.err.csv":            {"CSV 格式错误：%s", "not valid CSV: %s"},
	"roster.err.dup_column":     {"列名重复：%s", "column given twice: %s"},
	"roster.err.unknown_column": {"无法识别的列名：%s", "unknown column: %s"},
	"roster.err.missing_column": {"缺少必需的列：%s", "required column missing: %s"},
	"roster.err.too_many":       {"人数超过上限 %s", "more than %s people"},
	"roster.err.required":       {"不能为空", "must not be empty"},
	"roster.err.id":             {"学号/工号只能包含字母、数字、. _ -，最多 32 位：%s", "ids are letters, digits, . _ -, at most 32: %s"},
	"roster.err.dup_id":         {"学号/工号重复（与第 %s 行）", "id repeated (line %s)"},
	"roster.err.text":           {"含有不可见字符或过长：%s", "too long, or holds control characters: %s"},
	"roster.err.role":           {"身份应为 学生/教职工/家长（pupil/staff/parent）：%s", "role must be pupil, staff or parent: %s"},
	"roster.err.pupil_class":    {"学生须填写年级和班级", "a pupil needs a grade and a class"},
	"roster.err.card":           {"卡号只能包含字母和数字：%s", "card ids are letters and digits: %s"},
	"roster.err.dup_card":       {"卡号重复（与第 %s 行）", "card id repeated (line %s)"},
	"roster.err.phone":          {"电话号码格式不正确：%s", "not a phone number: %s"},

	"passes.title":        {"通行码", "Passes"},
	"passes.person":       {"人员", "Person"},
	"passes.days":         {"有效天数", "Valid for (days)"},
	"passes.issue":        {"签发", "Issue"},
	"passes.issue_class":  {"为全班签发", "Issue for the whole class"},
	"passes.sheet":        {"打印全班通行码", "Print the class's passes"},
	"passes.revoke":       {"作废", "Revoke"},
	"passes.revoked":      {"已作废", "Revoked"},
	"passes.expires":      {"有效期至", "Valid until"},
	"passes.issued_some":  {"通行码已签发。", "Passes issued."},
	"passes.revoked_done": {"通行码已作废，正在通知各门岗。", "Pass revoked; the gates are being told."},
	"passes.no_key":       {"本服务器没有签发密钥，无法签发通行码（campusd -pass-key）。", "This server has no signing key, so it cannot issue passes (campusd -pass-key)."},
	"passes.reason":       {"作废原因", "Why"},
	"passes.none":         {"尚未签发通行码。", "No pass issued yet."},

	"visitors.title":    {"访客登记", "Visitors"},
	"visitors.name":     {"姓名", "Name"},
	"visitors.phone":    {"电话", "Phone"},
	"visitors.reason":   {"事由", "Reason"},
	"visitors.host":     {"被访人", "Host"},
	"visitors.from":     {"有效期自", "Valid from"},
	"visitors.to":       {"至", "Until"},
	"visitors.register": {"登记并签发通行码", "Register and issue a pass"},
	"visitors.done":     {"访客已登记，通行码已签发。", "Visitor registered, pass issued."},
	"visitors.none":     {"没有有效的访客登记。", "No current visitor."},

	"gates.title":     {"门岗设备", "Gates"},
	"gates.gate":      {"门岗", "Gate"},
	"gates.state":     {"状态", "State"},
	"gates.online":    {"在线", "online"},
	"gates.offline":   {"离线", "offline"},
	"gates.last_seen": {"最后通信", "Last seen"},
	"gates.backlog":   {"待上传", "Backlog"},
	"gates.devices":   {"设备", "Devices"},
	"gates.versions":  {"名单/配置版本", "Roster / config"},
	"gates.clock":     {"时钟", "Clock"},
	"gates.config":    {"配置（TOML）", "Settings (TOML)"},
	"gates.apply":     {"下发配置", "Send the settings"},
	"gates.open":      {"远程开门", "Open remotely"},
	"gates.open_why":  {"开门原因", "Why"},
	"gates.sent":      {"已发送。", "Sent."},
	"gates.none":      {"还没有门岗连接过。", "No gate has connected yet."},
	"gates.unsynced":  {"未同步", "not synced"},
	"gates.synced":    {"已同步", "synced"},

	"accounts.title":      {"账号", "Accounts"},
	"accounts.username":   {"用户名", "User name"},
	"accounts.name":       {"姓名", "Name"},
	"accounts.role":       {"角色", "Role"},
	"accounts.class":      {"班级（班主任）", "Class (head teachers)"},
	"accounts.disabled":   {"已停用", "Disabled"},
	"accounts.create":     {"新建账号", "New account"},
	"accounts.created":    {"账号已创建，初始密码：%s（请通知本人尽快修改）", "Account created; its first password: %s (to be changed soon)"},
	"accounts.reset":      {"重置密码", "Reset password"},
	"accounts.reset_done": {"密码已重置：%s", "Password reset: %s"},
	"accounts.disable":    {"停用", "Disable"},
	"accounts.enable":     {"启用", "Enable"},

	"password.title":   {"修改密码", "Change password"},
	"password.current": {"当前密码", "Current password"},
	"password.new":     {"新密码（至少 10 位）", "New password (at least 10 characters)"},
	"password.done":    {"密码已修改，请重新登录。", "Password changed: please log in again."},
	"password.wrong":   {"当前密码不正确。", "The current password is wrong."},

	"audit.title":  {"审计日志", "Audit log"},
	"audit.at":     {"时间", "When"},
	"audit.user":   {"用户", "Who"},
	"audit.action": {"操作", "What"},
	"audit.target": {"对象", "On"},
	"audit.detail": {"详情", "Detail"},
	"audit.remote": {"地址", "From"},
}
