// The server's errors in the reader's language. The server answers
// `{"error": {code, message, params}}`: its `message` is English for logs and programs;
// a face words the `code` (with `params`: which field, what limit) from this table, and
// never shows the English message inside a Chinese face.

import { addStrings, t, has, getLang } from './i18n.js';
import { ApiError } from './api.js';

addStrings({
  en: {
    'apierr.missing_field': '{field} must not be empty.',
    'apierr.too_long': '{field} can be at most {max} characters.',
    'apierr.bad_display_name': 'The name may not contain control or text-direction characters.',
    'apierr.bad_username': 'A username is 1–64 letters, digits or . _ - @.',
    'apierr.weak_password': 'A password has 6 to 256 characters.',
    'apierr.bad_card': 'Only students and teachers carry cards, and a card number is letters and digits.',
    'apierr.bad_role': 'Choose a role: admin, teacher, student or guardian.',
    'apierr.username_taken': 'That username is already taken.',
    'apierr.card_taken': 'That card is already registered to someone.',
    'apierr.conflict': '{field} is already taken.',
    'apierr.last_admin': 'This is the last active admin: make another admin first.',
    'apierr.bad_setting': 'The setting “{field}” has a value it cannot take.',
    'apierr.bad_id': 'That is not a valid reference.',
    'apierr.not_found': 'That no longer exists.',
    'apierr.forbidden': 'You are not allowed to do this.',
    'apierr.too_large': 'That is too large.',
    'apierr.insufficient_storage': 'The server’s disk is full. Try again later.',
    'apierr.storage_unavailable': 'The server cannot store anything just now. Try again later.',
    'apierr.school_moving': 'The school is moving to another server. Try again in a moment.',
    'apierr.host_unreachable': 'The school’s server does not answer just now. Try again in a moment.',
    'apierr.upload_rate': 'Too many uploads in a short time. Wait a moment.',
    'apierr.upload_quota': 'You have too many files not yet sent. Send or wait for them to expire.',
    'apierr.generic': 'Something went wrong ({code}).',
    'field.display_name': 'The name',
    'field.username': 'The username',
    'field.password': 'The password',
    'field.card_uid': 'The card number',
    'field.role': 'The role',
    'field.name': 'The name',
    'field.title': 'The title',
    'field.body': 'The text',
    'field.text': 'The message',
    'field.group_id': 'The class',
    'field.timezone': 'Time zone',
    'field.card': 'The card',
  },
  'zh-CN': {
    'apierr.missing_field': '{field}不能为空。',
    'apierr.too_long': '{field}最多 {max} 个字符。',
    'apierr.bad_display_name': '姓名中不能包含控制字符或文字方向字符。',
    'apierr.bad_username': '用户名为 1–64 个字母、数字或 . _ - @。',
    'apierr.weak_password': '密码为 6 到 256 个字符。',
    'apierr.bad_card': '只有学生和老师可以持卡，卡号由字母和数字组成。',
    'apierr.bad_role': '请选择角色：管理员、老师、学生或家长。',
    'apierr.username_taken': '该用户名已被使用。',
    'apierr.card_taken': '该卡已登记给其他人。',
    'apierr.conflict': '{field}已被占用。',
    'apierr.last_admin': '这是最后一位在用的管理员，请先设置另一位管理员。',
    'apierr.bad_setting': '设置“{field}”的值不可用。',
    'apierr.bad_id': '引用无效。',
    'apierr.not_found': '该内容已不存在。',
    'apierr.forbidden': '你无权进行此操作。',
    'apierr.too_large': '内容过大。',
    'apierr.insufficient_storage': '服务器磁盘已满，请稍后再试。',
    'apierr.storage_unavailable': '服务器暂时无法保存，请稍后再试。',
    'apierr.school_moving': '学校正在迁移到另一台服务器，请稍后再试。',
    'apierr.host_unreachable': '学校的服务器暂时没有响应，请稍后再试。',
    'apierr.upload_rate': '短时间内上传过多，请稍候。',
    'apierr.upload_quota': '未发送的文件过多，请先发送或等待其过期。',
    'apierr.generic': '出错了（{code}）。',
    'field.display_name': '姓名',
    'field.username': '用户名',
    'field.password': '密码',
    'field.card_uid': '卡号',
    'field.role': '角色',
    'field.name': '名称',
    'field.title': '标题',
    'field.body': '正文',
    'field.text': '消息',
    'field.group_id': '班级',
    'field.timezone': '时区',
    'field.card': '卡',
  },
});

/**
 * The reader's sentence for a server error, from its code and parameters; `null` when
 * this table has no wording for it (the face then uses its own, by status).
 */
export function serverErrorText(err) {
  if (!(err instanceof ApiError) || !err.code) return null;
  const key = `apierr.${err.code}`;
  if (!has(key)) return null;
  const params = { ...(err.params || {}) };
  if (params.field) {
    const fieldKey = `field.${params.field}`;
    params.field = has(fieldKey) ? t(fieldKey) : params.field;
  }
  return t(key, params);
}

/**
 * Whether the server's own (English) message may be shown: only to an English reader,
 * and only when nothing better is known.
 */
export function englishMessageAllowed() {
  return getLang() === 'en';
}
