"""The HTML report's words, in English and Simplified Chinese (both ship in the one file)."""

from __future__ import annotations

LANGS = ("en", "zh-CN")

STRINGS: dict[str, tuple[str, str]] = {
    "title": ("Consent compliance scan", "Cookie 同意合规扫描"),
    "scanned": ("Scanned", "扫描时间"),
    "tool": ("Tool", "工具"),
    "browser": ("Browser", "浏览器"),
    "banner": ("Consent banner", "同意横幅"),
    "banner_none": ("none found: the reject and accept visits were not run",
                    "未发现：未执行“拒绝”和“接受”两次访问"),
    "pass": ("PASS: nothing tracked before a decision or after reject",
             "通过：做出选择前与拒绝后均未发现跟踪"),
    "fail": ("FAIL: tracking before a decision or after reject", "未通过：做出选择前或拒绝后存在跟踪"),
    "violations": ("Violations", "违规项"),
    "no_violations": ("No violations.", "无违规项。"),
    "comparison": ("Before, after reject, after accept", "选择前、拒绝后、接受后对比"),
    "by_vendor": ("Items per vendor and phase", "各供应商在各阶段的项目数"),
    "phase": ("Phase", "阶段"),
    "phase_before": ("Before any decision", "做出选择前"),
    "phase_reject": ("After reject", "拒绝后"),
    "phase_accept": ("After accept", "接受后"),
    "not_run": ("not run", "未执行"),
    "cookies": ("Cookies", "Cookie"),
    "nonnecessary": ("Non-necessary cookies", "非必要 Cookie"),
    "requests": ("Third-party requests", "第三方请求"),
    "tracker_requests": ("Requests to known trackers", "发往已知跟踪器的请求"),
    "storage": ("Storage keys", "存储键"),
    "beacons": ("Beacons and pixels", "信标与像素"),
    "pages": ("Pages visited", "访问的页面"),
    "screenshot": ("Screenshot", "截图"),
    "no_screenshot": ("no screenshot (the page did not respond)", "无截图（页面无响应）"),
    "vendor": ("Vendor", "供应商"),
    "unattributed": ("Vendor not known", "供应商未知"),
    "kind": ("Kind", "类型"),
    "item": ("Name or URL", "名称或 URL"),
    "category": ("Category", "类别"),
    "details": ("Details", "详情"),
    "reason": ("Reason", "原因"),
    "notes": ("Notes", "说明"),
    "nothing": ("Nothing recorded.", "未记录到任何项目。"),
    "accept_note": ("What consent allowed: the accept phase has no violations by definition.",
                    "同意后允许的内容：“接受”阶段按定义没有违规项。"),
    "legend": ("Violations: any non-necessary cookie or storage key, or request to a known tracker, before a "
               "decision or after reject. Attribution: the gateway config (when given), then the tracker catalog.",
               "违规：在做出选择前或拒绝后出现的任何非必要 Cookie、存储键，或发往已知跟踪器的请求。"
               "归属依据：网关配置（如提供），其次为跟踪器目录。"),
}


def pick(key: str, lang: str) -> str:
    en, zh = STRINGS[key]
    return zh if lang == "zh-CN" else en
