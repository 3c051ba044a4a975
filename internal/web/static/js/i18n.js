// Every string the dashboard shows, one dictionary per language. English is
// the default; Chinese (zh-CN) is chosen when the browser prefers Chinese, and
// a choice made in the header is kept in localStorage. No DOM here, so the
// dictionaries can be checked for completeness outside a browser.

const LANG_KEY = "lookout-lang";

/** dict maps language → key → text; "{name}" is replaced from vars. */
export const dict = {
  en: {
    "nav.overview": "Overview", "nav.alerts": "Alerts", "nav.raw": "Raw data", "nav.sql": "SQL", "nav.system": "System", "nav.pipeline": "Pipeline",
    "conn.connecting": "connecting…", "conn.live": "live", "conn.down": "disconnected",
    "banner.down": "Lost the connection to lookout — the server is gone or restarting. Reconnecting by itself; what is shown may be stale.",
    "token.set": "Token", "token.change": "Change token", "token.title": "API token",
    "token.help": "This lookout asks for a token. It is kept for this browser tab only (sessionStorage).",
    "token.rejected": "The server rejected this token.",
    "save": "Save", "saved": "Saved", "cancel": "Cancel", "loading": "Loading…", "never": "never",
    "err.network": "Cannot reach lookout (network error).",
    "ago.s": "{n} s ago", "ago.m": "{n} min ago", "ago.h": "{n} h ago", "ago.d": "{n} d ago",
    "group.all": "(all)",
    "ov.sources": "Sources", "ov.alerts": "Active alerts", "ov.pipelines": "Pipelines", "ov.keyValue": "Key value",
    "src.name": "Source", "src.type": "Type", "src.health": "Health", "src.last": "Last message", "src.rate": "Events/s", "src.lag": "Lag",
    "src.up": "up", "src.down": "down", "src.viewRaw": "View raw data stream", "src.none": "No sources configured.",
    "sev.critical": "Critical", "sev.warning": "Warning", "sev.info": "Info", "sev.none": "No severity",
    "state.pending": "pending", "state.firing": "firing", "state.resolved": "resolved", "state.inactive": "inactive",
    "al.active": "Active alerts", "al.history": "History and notification decisions", "al.state": "State", "al.rule": "Rule",
    "al.labels": "Labels", "al.since": "Since", "al.severity": "Severity", "al.value": "Value", "al.summary": "Summary",
    "al.actions": "Actions", "al.time": "Time", "al.decision": "Decision", "al.noneActive": "Nothing is wrong: no active alerts.",
    "al.noHistory": "No alert history yet.", "al.filtered": "Showing alert {fp} only.", "al.showAll": "Show all",
    "al.silence": "Silence", "al.ack": "Acknowledge", "al.duration": "Duration", "al.comment": "Comment",
    "al.silenceDefault": "silenced from the dashboard", "al.ackComment": "acknowledged from the dashboard",
    "al.silenced": "{rule} is silenced until {until}.", "al.acked": "{rule} is acknowledged until {until}: no repeats; the resolved message still goes out.",
    "al.silenceUnavailable": "Silences are not available on this lookout server yet.",
    "al.silenceFailed": "The server refused the silence.",
    "al.ackFailed": "The server refused the acknowledgement.", "al.unack": "Withdraw ack", "al.unacked": "{rule}: acknowledgement withdrawn.",
    "al.silencedBy": "silenced ({id})", "al.inhibitedBy": "inhibited by {by}", "al.ackedBy": "acked by {by}",
    "al.silences": "Silences", "al.noSilences": "No silences.", "al.expire": "Expire", "al.expired": "Silence {id} expired.",
    "al.matchers": "Matchers", "al.until": "Until", "al.createdBy": "By",
    "dur.1h": "1 hour", "dur.4h": "4 hours", "dur.24h": "24 hours", "dur.7d": "7 days",
    "pl.pipeline": "Pipeline", "pl.range": "Time range", "pl.status": "{n} windows · live", "pl.truncated": "newest only",
    "pl.clickHint": "Click a point to see that window's values and its raw events. Click a group to hide or show it.",
    "pl.latest": "Latest window per group", "pl.group": "Group", "pl.end": "Closed", "pl.count": "Events",
    "pl.noData": "No windows in this range yet.", "pl.none": "No pipelines.",
    "range.5m": "5 min", "range.1h": "1 hour", "range.24h": "24 hours",
    "dr.title": "Window", "dr.aggregate": "Aggregate", "dr.value": "Value", "dr.late": "Late events", "dr.events": "Raw events",
    "dr.flags": "Flags", "dr.raw": "Event", "dr.trace": "Trace", "dr.openTrace": "Open trace",
    "dr.exemplars": "Exemplar traces",
    "dr.noTemplate": "Set a trace URL template on the System page to link this trace id.",
    "dr.count": "{n} events", "dr.more": "first 100 shown", "dr.noEvents": "No stored events for this window (they may have expired).",
    "dr.sql": "The query", "dr.openSQL": "Open in the SQL console",
    "raw.title": "Raw data stream", "raw.source": "Source", "raw.pause": "Pause", "raw.resume": "Resume", "raw.paused": "paused",
    "raw.live": "live, every second", "raw.copy": "Copy", "raw.copyAll": "Copy all", "raw.copied": "Copied", "raw.copyFailed": "Copy failed",
    "raw.help": "The last {n} messages exactly as received, newest first.", "raw.none": "No messages received yet.",
    "raw.pick": "Choose a source.", "raw.notJSON": "not JSON", "raw.time": "Time",
    "raw.alertHelp": "The last {n} stored events behind alert {rule} ({group}) since {since}, newest first.",
    "sql.title": "SQL console", "sql.run": "Run", "sql.shortcut": "Ctrl+Enter", "sql.examples": "Examples…", "sql.running": "Running…",
    "sql.help": "Read-only DuckDB over events(ts, source, fields, flags, raw), windows(pipeline, start, \"end\", grp, vals, count, late), alerts(ts, rule, fingerprint, labels, state, value, summary, decision), rejected(ts, source, raw, reason).",
    "sql.rows": "{n} rows · {ms} ms", "sql.truncated": "truncated by the server", "sql.shown": "First {n} rows shown.",
    "sys.title": "lookout's own health", "sys.ingest": "Ingest queue (events)", "sys.backlog": "Store backlog (rows)",
    "sys.outbox": "Outbox pending", "sys.goroutines": "Goroutines", "sys.heap": "Heap in use", "sys.rss": "Resident memory",
    "sys.firing": "Firing alerts", "sys.clients": "Live-feed clients", "sys.windows": "Windows emitted", "sys.latency": "Alert latency, mean (ms)",
    "sys.settings": "Settings", "sys.traceURL": "Trace URL template",
    "sys.traceHelp": "Events carrying trace_id or traceparent link here; {trace_id} is replaced. Also settable with ?trace_url= in the page address. Kept in this browser.",
  },
  "zh-CN": {
    "nav.overview": "概览", "nav.alerts": "告警", "nav.raw": "原始数据", "nav.sql": "SQL", "nav.system": "系统", "nav.pipeline": "管道",
    "conn.connecting": "连接中…", "conn.live": "实时", "conn.down": "已断开",
    "banner.down": "与 lookout 的连接已断开——服务器已停止或正在重启。正在自动重连；当前显示的内容可能已过时。",
    "token.set": "令牌", "token.change": "更换令牌", "token.title": "API 令牌",
    "token.help": "此 lookout 需要令牌。令牌只保存在当前浏览器标签页中（sessionStorage）。",
    "token.rejected": "服务器拒绝了此令牌。",
    "save": "保存", "saved": "已保存", "cancel": "取消", "loading": "加载中…", "never": "从未",
    "err.network": "无法连接 lookout（网络错误）。",
    "ago.s": "{n} 秒前", "ago.m": "{n} 分钟前", "ago.h": "{n} 小时前", "ago.d": "{n} 天前",
    "group.all": "（全部）",
    "ov.sources": "数据源", "ov.alerts": "活动告警", "ov.pipelines": "管道", "ov.keyValue": "关键指标",
    "src.name": "数据源", "src.type": "类型", "src.health": "健康", "src.last": "最后消息", "src.rate": "事件/秒", "src.lag": "延迟",
    "src.up": "正常", "src.down": "异常", "src.viewRaw": "查看原始数据流", "src.none": "未配置数据源。",
    "sev.critical": "严重", "sev.warning": "警告", "sev.info": "提示", "sev.none": "无级别",
    "state.pending": "待定", "state.firing": "触发中", "state.resolved": "已恢复", "state.inactive": "未激活",
    "al.active": "活动告警", "al.history": "历史与通知决策", "al.state": "状态", "al.rule": "规则",
    "al.labels": "标签", "al.since": "开始于", "al.severity": "级别", "al.value": "值", "al.summary": "摘要",
    "al.actions": "操作", "al.time": "时间", "al.decision": "决策", "al.noneActive": "一切正常：没有活动告警。",
    "al.noHistory": "暂无告警历史。", "al.filtered": "仅显示告警 {fp}。", "al.showAll": "显示全部",
    "al.silence": "静默", "al.ack": "确认", "al.duration": "时长", "al.comment": "备注",
    "al.silenceDefault": "在仪表盘中静默", "al.ackComment": "在仪表盘中确认",
    "al.silenced": "{rule} 已静默至 {until}。", "al.acked": "{rule} 已确认至 {until}：不再重复通知，恢复消息仍会发送。",
    "al.silenceUnavailable": "此 lookout 服务器尚不支持静默。",
    "al.silenceFailed": "服务器拒绝了静默请求。",
    "al.ackFailed": "服务器拒绝了确认请求。", "al.unack": "撤销确认", "al.unacked": "{rule}：已撤销确认。",
    "al.silencedBy": "已静默（{id}）", "al.inhibitedBy": "被 {by} 抑制", "al.ackedBy": "{by} 已确认",
    "al.silences": "静默", "al.noSilences": "没有静默。", "al.expire": "使失效", "al.expired": "静默 {id} 已失效。",
    "al.matchers": "匹配条件", "al.until": "截止", "al.createdBy": "创建者",
    "dur.1h": "1 小时", "dur.4h": "4 小时", "dur.24h": "24 小时", "dur.7d": "7 天",
    "pl.pipeline": "管道", "pl.range": "时间范围", "pl.status": "{n} 个窗口 · 实时", "pl.truncated": "仅最新部分",
    "pl.clickHint": "点击数据点可查看该窗口的值及其原始事件。点击分组可隐藏或显示。",
    "pl.latest": "各分组最新窗口", "pl.group": "分组", "pl.end": "关闭时间", "pl.count": "事件数",
    "pl.noData": "此时间范围内暂无窗口。", "pl.none": "没有管道。",
    "range.5m": "5 分钟", "range.1h": "1 小时", "range.24h": "24 小时",
    "dr.title": "窗口", "dr.aggregate": "聚合", "dr.value": "值", "dr.late": "迟到事件", "dr.events": "原始事件",
    "dr.flags": "标记", "dr.raw": "事件", "dr.trace": "链路", "dr.openTrace": "打开链路",
    "dr.exemplars": "示例链路",
    "dr.noTemplate": "在“系统”页设置链路 URL 模板后即可链接此 trace id。",
    "dr.count": "{n} 个事件", "dr.more": "仅显示前 100 个", "dr.noEvents": "此窗口没有已存储的事件（可能已过期）。",
    "dr.sql": "查询语句", "dr.openSQL": "在 SQL 控制台中打开",
    "raw.title": "原始数据流", "raw.source": "数据源", "raw.pause": "暂停", "raw.resume": "继续", "raw.paused": "已暂停",
    "raw.live": "实时，每秒刷新", "raw.copy": "复制", "raw.copyAll": "全部复制", "raw.copied": "已复制", "raw.copyFailed": "复制失败",
    "raw.help": "最近 {n} 条原样接收的消息，最新的在最上面。", "raw.none": "尚未收到消息。",
    "raw.pick": "请选择数据源。", "raw.notJSON": "非 JSON", "raw.time": "时间",
    "raw.alertHelp": "告警 {rule}（{group}）自 {since} 以来最近 {n} 条已存储的事件，最新的在最上面。",
    "sql.title": "SQL 控制台", "sql.run": "运行", "sql.shortcut": "Ctrl+Enter", "sql.examples": "示例…", "sql.running": "运行中…",
    "sql.help": "只读 DuckDB 查询，表：events(ts, source, fields, flags, raw)、windows(pipeline, start, \"end\", grp, vals, count, late)、alerts(ts, rule, fingerprint, labels, state, value, summary, decision)、rejected(ts, source, raw, reason)。",
    "sql.rows": "{n} 行 · {ms} 毫秒", "sql.truncated": "已被服务器截断", "sql.shown": "仅显示前 {n} 行。",
    "sys.title": "lookout 自身健康", "sys.ingest": "摄取队列（事件）", "sys.backlog": "存储积压（行）",
    "sys.outbox": "待发送通知", "sys.goroutines": "Goroutine 数", "sys.heap": "堆内存", "sys.rss": "常驻内存",
    "sys.firing": "触发中的告警", "sys.clients": "实时推送客户端", "sys.windows": "已输出窗口", "sys.latency": "告警端到端延迟均值（毫秒）",
    "sys.settings": "设置", "sys.traceURL": "链路 URL 模板",
    "sys.traceHelp": "带有 trace_id 或 traceparent 的事件会链接到这里；{trace_id} 会被替换。也可在页面地址中用 ?trace_url= 设置。保存在此浏览器中。",
  },
};

/** languages lists the choices for the header's picker. */
export const languages = [["en", "English"], ["zh-CN", "中文"]];

function storage() {
  try { return globalThis.localStorage || null; } catch { return null; }
}

/** detect picks the language: a saved choice, else the browser's preference. */
export function detect(saved, prefs) {
  if (saved && dict[saved]) return saved;
  for (const p of prefs || []) {
    if (!p) continue;
    if (p.toLowerCase().startsWith("zh")) return "zh-CN";
    if (p.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

let current = detect(storage()?.getItem(LANG_KEY), globalThis.navigator ? (navigator.languages?.length ? navigator.languages : [navigator.language]) : []);

/** lang is the language in use. */
export function lang() { return current; }

/** setLang switches language and remembers the choice. */
export function setLang(l) {
  if (!dict[l]) return;
  current = l;
  storage()?.setItem(LANG_KEY, l);
}

/** t looks key up in the current language, then English, then fallback. */
export function t(key, vars, fallback) {
  let s = dict[current][key] ?? dict.en[key] ?? fallback ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}
