// A single student's fresh QR badge, shown as its secret ("Print badge" in the person
// panel opens badges.html?user= instead, which prints it with the server's QR image).

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { dialog } from '../ui.js';
import { icon } from '/common/icons.js';

export function badgeDialog(user, token) {
  dialog({
    title: t('badge.issued_title'),
    testid: 'badge-issued',
    body: h('div', { class: 'form-stack' },
      h('p', { class: 'dialog-text', text: t('badge.issued_text', { name: user.display_name }) }),
      h('div', { class: 'token-box' }, icon('qr'), h('code', { 'data-testid': 'badge-token', text: token })),
      h('p', { class: 'field-hint', text: t('badge.issued_hint') })),
    actions: [{ label: t('common.done'), kind: 'primary' }],
  });
}
