// What a notification says, in both languages, for the service worker (sw.js loads this
// file with importScripts: a worker cannot use the app's i18n module). The server sends
// who and what kind (push/notes.rs); these turn it into words.
self.PUSH_STRINGS = {
  en: {
    'push.kind.text': 'sent a message',
    'push.kind.image': 'sent a photo',
    'push.kind.voice': 'sent a voice message',
    'push.kind.video': 'sent a video',
    'push.kind.call': 'a call you missed',
    'push.urgent': 'Urgent',
    'push.alert.title': 'Urgent: {student}',
    'push.alert.body': '{from} sent {student} an urgent message.',
    'push.arrival.room': 'Checked in at {room} at {time}',
    'push.arrival.school': 'Checked in at school at {time}',
    'push.notice.title': 'School notice',
    'push.call.voice': 'is calling you',
    'push.call.video': 'is video calling you',
    'push.generic': 'Something new in Doorplate',
  },
  'zh-CN': {
    'push.kind.text': '发来一条消息',
    'push.kind.image': '发来一张照片',
    'push.kind.voice': '发来一条语音',
    'push.kind.video': '发来一段视频',
    'push.kind.call': '你错过了一个通话',
    'push.urgent': '紧急',
    'push.alert.title': '紧急：{student}',
    'push.alert.body': '{from} 给 {student} 发了一条紧急消息。',
    'push.arrival.room': '{time} 在 {room} 签到',
    'push.arrival.school': '{time} 在学校签到',
    'push.notice.title': '学校通知',
    'push.call.voice': '正在呼叫你',
    'push.call.video': '正在与你视频通话',
    'push.generic': 'Doorplate 有新动态',
  },
};
