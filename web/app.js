// Agora chat: a small client of Agora's public HTTP API and WebSocket API (docs/chat.md).
// Plain JavaScript, no build step. It keeps no secret but the signed-in user's token, in
// this tab's sessionStorage (so two tabs can be two users).
//
// Configuration, first found wins:
//   1. the URL fragment: #token=<JWT>&api=<HTTP API URL>&ws=<WebSocket URL> (removed from
//      the address bar once read);
//   2. what this tab stored at its last sign-in;
//   3. the local stack's GET /local/config (when the page is served by agora-local);
//   4. the HTTP API on the page's own origin.
(() => {
  'use strict';

  const STORAGE_KEY = 'agora-chat';
  const HISTORY_PAGE = 50;
  const TYPING_RENEW_MS = 3000; // the server keeps an indicator 5 s (CHAT_TYPING_SECONDS)
  const TYPING_IDLE_MS = 4000;
  const REQUEST_TIMEOUT_MS = 15000;
  const MAX_RECONNECT_MS = 15000;
  const KEEPALIVE_MS = 5 * 60 * 1000; // API Gateway closes a connection idle for 10 minutes
  const INBOX_REFRESH_MS = 30000; // a fallback: notifications refresh the inbox at once

  const $ = (id) => document.getElementById(id);

  const { el, jwtSubject, enc } = window.Agora;

  const state = {
    api: '',
    ws: '',
    token: '',
    me: '',
    profiles: new Map(), // userId -> { displayName, handle } (null: hidden from me)
    profileRequests: new Map(),
    rooms: [], // inbox entries
    connections: [],
    presence: new Map(), // userId -> online | away | busy | offline
    socket: null,
    reconnectDelay: 1000,
    reconnectTimer: null,
    requests: new Map(), // requestId -> { resolve, reject, timer }
    nextRequest: 1,
    room: null, // the open room (see newRoom)
    communities: [], // my communities, with my role
    community: null, // the open community's id
    inboxTimer: null,
    toastTimer: null,
  };

  // ---- small helpers ---------------------------------------------------------------

  function toast(message) {
    const node = $('toast');
    node.textContent = message;
    node.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { node.hidden = true; }, 5000);
  }

  function maxId(a, b) {
    if (!a) return b || '';
    if (!b) return a;
    return a > b ? a : b; // ULIDs: same length, lexicographic = chronological
  }

  function formatTime(iso) {
    if (!iso) return '';
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return '';
    const now = new Date();
    if (at.toDateString() === now.toDateString()) {
      return at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    }
    return at.toLocaleDateString([], { month: 'short', day: 'numeric' });
  }

  function newClientMessageId() {
    const random = new Uint32Array(2);
    crypto.getRandomValues(random);
    return `web-${Date.now().toString(36)}-${random[0].toString(36)}${random[1].toString(36)}`;
  }

  // ---- HTTP API --------------------------------------------------------------------

  function api(method, path, body) {
    return window.Agora.call(
      state.api,
      state.token,
      () => signOut('Your token was refused (expired?). Sign in again.'),
      method,
      path,
      body,
    );
  }

  /** Every page of a paginated list. */
  async function allPages(path) {
    const items = [];
    let cursor = null;
    do {
      const separator = path.includes('?') ? '&' : '?';
      const page = await api('GET', cursor ? `${path}${separator}cursor=${enc(cursor)}` : path);
      items.push(...(page.items || []));
      cursor = page.nextCursor || null;
    } while (cursor);
    return items;
  }

  // ---- profiles --------------------------------------------------------------------

  function nameOf(userId) {
    const profile = state.profiles.get(userId);
    if (profile && profile.displayName) return profile.displayName;
    if (userId === state.me) return 'You';
    return userId;
  }

  function firstName(userId) {
    return nameOf(userId).split(/\s+/)[0];
  }

  function rememberProfile(userId, profile) {
    if (profile && (profile.displayName || profile.handle)) {
      state.profiles.set(userId, { displayName: profile.displayName, handle: profile.handle });
    }
  }

  /** Loads the profiles not known yet; re-renders once they are in. */
  async function ensureProfiles(userIds) {
    const missing = [...new Set(userIds)].filter((id) => id && !state.profiles.has(id));
    if (!missing.length) return;
    await Promise.all(missing.map((userId) => {
      if (!state.profileRequests.has(userId)) {
        const path = userId === state.me ? '/v1/me' : `/v1/profiles/${enc(userId)}`;
        const request = api('GET', path)
          .then((profile) => rememberProfile(userId, profile))
          .catch(() => {})
          .finally(() => {
            if (!state.profiles.has(userId)) state.profiles.set(userId, null);
            state.profileRequests.delete(userId);
          });
        state.profileRequests.set(userId, request);
      }
      return state.profileRequests.get(userId);
    }));
  }

  // ---- sign-in ---------------------------------------------------------------------

  async function readConfig() {
    const hash = new URLSearchParams(location.hash.slice(1));
    let stored = {};
    try { stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || '{}'); } catch { stored = {}; }
    const fromHash = hash.has('token') || hash.has('api') || hash.has('ws');
    const config = {
      token: hash.get('token') || (fromHash ? '' : stored.token) || '',
      api: hash.get('api') || stored.api || '',
      ws: hash.get('ws') || stored.ws || '',
    };
    if (fromHash) history.replaceState(null, '', location.pathname + location.search);
    if (!config.api || !config.ws) {
      const local = await localConfig(config.api || location.origin);
      config.api = config.api || local.httpApi || '';
      config.ws = config.ws || local.webSocket || '';
    }
    config.api = (config.api || location.origin).replace(/\/+$/, '');
    return config;
  }

  /** The local stack's URLs (GET /local/config); {} anywhere else. */
  async function localConfig(base) {
    try {
      const response = await fetch(`${base.replace(/\/+$/, '')}/local/config`);
      return response.ok ? await response.json() : {};
    } catch {
      return {};
    }
  }

  async function showSignIn(config, message) {
    $('chat').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = message || '';
    const form = $('token-form');
    form.elements.api.value = config.api || '';
    form.elements.ws.value = config.ws || '';
    await window.Agora.offerDemoUsers(config.api, (token) => signIn({ ...config, token }));
  }

  async function signIn(config) {
    const me = jwtSubject(config.token);
    if (!me) {
      showSignIn(config, 'That token is not a JWT with a subject.');
      return;
    }
    if (!config.ws) {
      showSignIn(config, 'The WebSocket URL is missing.');
      return;
    }
    Object.assign(state, { api: config.api, ws: config.ws, token: config.token, me });
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ api: state.api, ws: state.ws, token: state.token }));
    $('sign-in').hidden = true;
    $('chat').hidden = false;
    $('sign-out').hidden = false;
    $('my-presence').hidden = false;
    $('me').hidden = false;
    $('me').dataset.userId = me;
    $('me').textContent = me;
    connectSocket();
    ensureProfiles([me]).then(() => {
      $('me').textContent = nameOf(me) === 'You' ? me : nameOf(me);
    });
    await Promise.all([loadInbox(), loadConnections(), loadPresence(), loadCommunities()]);
  }

  function signOut(message) {
    const config = { api: state.api, ws: state.ws };
    sessionStorage.removeItem(STORAGE_KEY);
    closeRoom();
    state.token = '';
    state.me = '';
    const socket = state.socket;
    state.socket = null;
    clearTimeout(state.reconnectTimer);
    if (socket) socket.close();
    setConnection('offline');
    for (const id of ['sign-out', 'my-presence', 'me']) $(id).hidden = true;
    showSignIn(config, message);
  }

  // ---- WebSocket -------------------------------------------------------------------

  function setConnection(value) {
    const node = $('connection-status');
    node.dataset.state = value;
    node.textContent = value;
  }

  function socketOpen() {
    return state.socket !== null && state.socket.readyState === WebSocket.OPEN;
  }

  function connectSocket() {
    clearTimeout(state.reconnectTimer);
    if (!state.token) return;
    // One socket per page: a replaced one is closed, not left open beside the new.
    const previous = state.socket;
    const socket = new WebSocket(`${state.ws}?token=${enc(state.token)}`);
    state.socket = socket;
    if (previous) previous.close();
    setConnection('connecting');
    socket.addEventListener('open', () => {
      if (state.socket !== socket) return;
      state.reconnectDelay = 1000;
      setConnection('online');
      onReconnected();
    });
    socket.addEventListener('message', (event) => {
      if (state.socket !== socket) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      onFrame(frame);
    });
    socket.addEventListener('close', () => {
      if (state.socket !== socket) return;
      state.socket = null;
      setConnection('offline');
      for (const [id, pending] of state.requests) {
        clearTimeout(pending.timer);
        pending.reject(new Error('the connection closed'));
        state.requests.delete(id);
      }
      if (state.room) state.room.subscribed = false;
      if (!state.token) return;
      // Exponential backoff with jitter: after an outage every client would otherwise
      // come back in the same second (API Gateway admits 500 new connections/s per
      // account and Region).
      const delay = state.reconnectDelay * (0.5 + Math.random() / 2);
      state.reconnectTimer = setTimeout(connectSocket, delay);
      state.reconnectDelay = Math.min(state.reconnectDelay * 2, MAX_RECONNECT_MS);
    });
  }

  /** Sends an action and resolves with its ack (or pong); rejects on an error frame. */
  function request(action, fields = {}) {
    return new Promise((resolve, reject) => {
      if (!socketOpen()) {
        reject(new Error('not connected'));
        return;
      }
      const requestId = `r${state.nextRequest++}`;
      const timer = setTimeout(() => {
        state.requests.delete(requestId);
        reject(new Error(`${action} timed out`));
      }, REQUEST_TIMEOUT_MS);
      state.requests.set(requestId, { resolve, reject, timer });
      state.socket.send(JSON.stringify({ action, requestId, ...fields }));
    });
  }

  function settle(frame, failed) {
    const pending = frame.requestId && state.requests.get(frame.requestId);
    if (!pending) return false;
    state.requests.delete(frame.requestId);
    clearTimeout(pending.timer);
    if (failed) {
      const error = new Error(frame.message || frame.code || 'failed');
      error.code = frame.code;
      error.retryAfterSeconds = frame.retryAfterSeconds;
      pending.reject(error);
    } else {
      pending.resolve(frame);
    }
    return true;
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'ack':
      case 'pong':
        settle(frame, false);
        break;
      case 'error':
        if (!settle(frame, true)) toast(frame.message || frame.code || 'error');
        break;
      case 'message':
      case 'messageEdited':
      case 'messageDeleted':
        onMessageEvent(frame);
        break;
      case 'typing':
        onTypingEvent(frame);
        break;
      case 'readReceipt':
        onReadReceipt(frame);
        break;
      case 'presence':
        if (frame.presence) setPresence(frame.presence.userId, frame.presence.status);
        break;
      case 'memberJoined':
      case 'memberLeft':
        if (state.room && state.room.id === frame.roomId) reloadRoomDetail(state.room);
        refreshInboxSoon();
        break;
      case 'notification':
        refreshInboxSoon();
        break;
      default:
        break;
    }
  }

  /** After a (re)connect: the open room subscribes again and catches up. */
  function onReconnected() {
    refreshInboxSoon();
    loadPresence();
    const room = state.room;
    if (room && room.loaded) {
      syncRoom(room).catch((error) => toast(`Catching up failed: ${error.message}`));
    }
  }

  // ---- inbox -----------------------------------------------------------------------

  function otherDmUser(room) {
    const ids = room.dmUserIds || [];
    return ids.find((id) => id !== state.me) || ids[0] || '';
  }

  function roomTitle(room) {
    if (room.kind === 'dm') return nameOf(otherDmUser(room));
    return room.name || 'Room';
  }

  function roomTime(room) {
    return (room.lastMessage && room.lastMessage.sentAt) || room.lastMessageAt || room.createdAt || '';
  }

  async function loadInbox() {
    try {
      const rooms = await api('GET', '/v1/rooms?limit=50');
      state.rooms = rooms.items || [];
      renderInbox();
      const people = [];
      for (const room of state.rooms) {
        if (room.kind === 'dm') people.push(otherDmUser(room));
        if (room.lastMessage) people.push(room.lastMessage.senderId);
      }
      await ensureProfiles(people);
      renderInbox();
      if (state.room) renderRoomHead(state.room);
    } catch (error) {
      if (state.token) toast(`Loading the inbox failed: ${error.message}`);
    }
  }

  function refreshInboxSoon() {
    clearTimeout(state.inboxTimer);
    state.inboxTimer = setTimeout(loadInbox, 300);
  }

  function renderInbox() {
    const list = $('inbox');
    const rooms = [...state.rooms].sort((a, b) => (roomTime(b) > roomTime(a) ? 1 : roomTime(b) < roomTime(a) ? -1 : 0));
    $('inbox-empty').hidden = rooms.length > 0;
    list.replaceChildren(...rooms.map((room) => {
      const open = state.room && state.room.id === room.roomId;
      const unread = open ? 0 : room.unreadCount || 0;
      const title = roomTitle(room);
      const icon = el('span', { class: 'room-icon', text: (title[0] || '#').toUpperCase() });
      if (room.kind === 'dm') {
        const other = otherDmUser(room);
        icon.append(el('span', {
          class: 'dot',
          'data-testid': 'inbox-presence',
          'data-user-id': other,
          'data-status': state.presence.get(other) || 'offline',
        }));
      }
      let preview = 'No messages yet';
      if (room.lastMessage) {
        const who = room.lastMessage.senderId === state.me ? 'You' : firstName(room.lastMessage.senderId);
        preview = room.lastMessage.deleted ? `${who}: message deleted` : `${who}: ${room.lastMessage.text}`;
      }
      return el('li', {
        class: [open ? 'active' : '', unread ? 'unread' : ''].join(' ').trim(),
        'data-testid': 'room-item',
        'data-room-id': room.roomId,
        'data-kind': room.kind,
        tabindex: 0,
        onclick: () => openRoom(room.roomId),
        onkeydown: (event) => { if (event.key === 'Enter') openRoom(room.roomId); },
      },
      icon,
      el('span', { class: 'room-name', 'data-testid': 'room-name', text: title }),
      el('span', { class: 'room-time', text: formatTime(roomTime(room)) }),
      el('span', { class: 'preview', 'data-testid': 'room-preview', text: preview }),
      unread ? el('span', { class: 'badge', 'data-testid': 'unread-badge', text: unread > 99 ? '99+' : unread }) : null);
    }));
  }

  async function loadConnections() {
    try {
      const connections = await allPages('/v1/connections?limit=100');
      state.connections = connections;
      for (const connection of connections) rememberProfile(connection.userId, connection.profile);
      renderConnections();
      renderInbox();
    } catch (error) {
      if (state.token) toast(`Loading connections failed: ${error.message}`);
    }
  }

  function renderConnections() {
    $('connections-empty').hidden = state.connections.length > 0;
    $('connections').replaceChildren(...state.connections.map((connection) => el('li', {
      'data-testid': 'connection-item',
      'data-user-id': connection.userId,
    },
    el('span', { class: 'dot', 'data-status': state.presence.get(connection.userId) || 'offline' }),
    el('span', { class: 'name', text: nameOf(connection.userId) }),
    el('button', {
      type: 'button',
      class: 'link',
      'data-testid': 'start-dm',
      onclick: () => startDm(connection.userId),
    }, 'Message'))));
  }

  async function startDm(userId) {
    try {
      const room = await api('POST', '/v1/rooms/dm', { userId });
      $('new-chat').open = false;
      if (!state.rooms.some((r) => r.roomId === room.roomId)) state.rooms.push({ ...room, unreadCount: 0 });
      renderInbox();
      await openRoom(room.roomId);
      refreshInboxSoon();
    } catch (error) {
      toast(`Could not open the conversation: ${error.message}`);
    }
  }

  // ---- presence --------------------------------------------------------------------

  async function loadPresence() {
    try {
      for (const presence of await allPages('/v1/presence?limit=100')) {
        state.presence.set(presence.userId, presence.status);
      }
      renderPresence();
    } catch {
      // Presence is a nicety: the dots stay grey.
    }
  }

  function setPresence(userId, status) {
    if (!userId || !status) return;
    state.presence.set(userId, status);
    renderPresence();
  }

  function renderPresence() {
    for (const dot of document.querySelectorAll('.dot[data-user-id]')) {
      dot.dataset.status = state.presence.get(dot.dataset.userId) || 'offline';
      dot.title = dot.dataset.status;
    }
    for (const label of document.querySelectorAll('.presence-label[data-user-id]')) {
      label.textContent = state.presence.get(label.dataset.userId) || 'offline';
    }
    renderConnections();
  }

  // ---- the open room ---------------------------------------------------------------

  function newRoom(id) {
    return {
      id,
      detail: null,
      members: [],
      messages: new Map(), // messageId -> message (highest version)
      pending: new Map(), // clientMessageId -> { text, sentAt, failed }
      reads: new Map(), // userId -> lastReadMessageId
      typing: new Map(), // userId -> expiresAt (epoch ms)
      typingTimer: null,
      lastId: '',
      olderCursor: null,
      myLastRead: '',
      markingRead: '',
      subscribed: false,
      loaded: false,
      typingSentAt: 0,
      typingActive: false,
      typingIdle: null,
    };
  }

  function closeRoom() {
    const room = state.room;
    if (!room) return;
    stopTyping(room);
    clearTimeout(room.typingTimer);
    if (room.subscribed && socketOpen()) request('unsubscribe', { roomId: room.id }).catch(() => {});
    state.room = null;
  }

  // ---- communities (docs/communities.md) ---------------------------------------------

  async function loadCommunities() {
    try {
      const page = await api('GET', '/v1/me/communities?limit=50');
      state.communities = page.items || [];
      renderCommunities();
    } catch (error) {
      if (state.token) toast(`Loading your communities failed: ${error.message}`);
    }
  }

  function renderCommunities() {
    const list = $('communities');
    $('communities-empty').hidden = state.communities.length > 0;
    list.replaceChildren(...state.communities.map((community) => el('li', {
      class: `room-item${state.community === community.communityId ? ' active' : ''}`,
      'data-testid': 'community-item',
      'data-community-id': community.communityId,
      onclick: () => openCommunity(community.communityId),
    },
    el('span', { class: 'room-icon', text: (community.name[0] || '#').toUpperCase() }),
    el('span', { class: 'room-name', text: community.name }),
    el('span', { class: 'hint', text: community.myRole || '' }))));
  }

  function closeCommunity() {
    state.community = null;
    $('community').hidden = true;
    $('community').dataset.ready = 'false';
    $('room').hidden = false;
  }

  async function openCommunity(communityId) {
    closeRoom();
    state.community = communityId;
    const view = $('community');
    view.dataset.communityId = communityId;
    view.dataset.ready = 'false';
    $('room').hidden = true;
    view.hidden = false;
    renderCommunities();
    renderInbox();
    try {
      const id = enc(communityId);
      const [community, topics, members, channels, events] = await Promise.all([
        api('GET', `/v1/communities/${id}`),
        api('GET', `/v1/topics?community=${id}&limit=20`),
        api('GET', `/v1/communities/${id}/members?limit=50`),
        // Members only: anyone else sees no channels.
        api('GET', `/v1/communities/${id}/channels`).catch(() => ({ items: [] })),
        // The next 90 days (docs/events.md).
        api('GET', `/v1/communities/${id}/events?limit=20`).catch(() => ({ items: [] })),
      ]);
      await ensureProfiles((topics.items || []).map((topic) => topic.authorId));
      if (state.community !== communityId) return;
      $('community-name').textContent = community.name;
      const about = [`${community.kind} · ${community.memberCount} members`];
      if (community.description) about.push(community.description);
      $('community-about').textContent = about.join(' — ');
      renderFollow(community);
      renderTopics(topics.items || []);
      renderChannels(channels.items || []);
      await renderEvents(events.items || []);
      $('community-members').replaceChildren(...(members.items || []).map((member) => el('li', {
        'data-testid': 'community-member',
        'data-user-id': member.userId,
      },
      el('span', { text: (member.profile && member.profile.displayName) || member.userId }),
      el('span', { class: 'member-role', text: member.role }))));
      view.dataset.ready = 'true';
    } catch (error) {
      if (state.community === communityId) toast(`Opening the community failed: ${error.message}`);
    }
  }

  // Members follow a community to hear of each new topic (docs/communities.md#following-and-announcements).
  function renderFollow(community) {
    const button = $('follow-community');
    button.hidden = community.following === undefined;
    button.dataset.following = String(Boolean(community.following));
    button.textContent = community.following ? 'Following · stop' : 'Follow new topics';
  }

  async function toggleFollow() {
    const communityId = state.community;
    if (!communityId) return;
    const following = $('follow-community').dataset.following !== 'true';
    try {
      const result = await api('PUT', `/v1/communities/${enc(communityId)}/following`, { following });
      if (state.community === communityId) renderFollow({ following: result.following });
    } catch (error) {
      toast(`Following failed: ${error.message}`);
    }
  }

  // Each event with its next occurrence, its exact going count and my answer; members
  // answer going or not (a full occurrence waitlists them). docs/events.md
  async function renderEvents(events) {
    $('community-events-empty').hidden = events.length > 0;
    const items = await Promise.all(events.map(async (event) => {
      // The event read alone carries its next occurrences' counts and my answer.
      const full = await api('GET', `/v1/events/${enc(event.eventId)}`).catch(() => event);
      const next = (full.occurrences || [])[0];
      const when = next ? new Date(next.startsAt).toLocaleString() : 'no upcoming date';
      const counts = next && next.going !== undefined
        ? ` · ${next.going} going${next.waitlisted ? `, ${next.waitlisted} waiting` : ''}` : '';
      const row = el('li', {
        'data-testid': 'community-event',
        'data-event-id': event.eventId,
      },
      el('div', { class: 'topic-title', text: event.title }),
      el('div', { class: 'hint', 'data-testid': 'event-summary', text: `${when}${counts}` }));
      if (next) {
        const mine = next.myRsvp;
        const going = mine === 'going' || mine === 'waitlisted';
        row.append(el('button', {
          'data-testid': 'event-rsvp',
          'data-status': mine || '',
          text: going ? (mine === 'waitlisted' ? 'Waitlisted · leave' : 'Going · cancel') : 'Going',
          onclick: () => answerEvent(event.eventId, next.occurrenceId, going ? 'notGoing' : 'going'),
        }));
      }
      return row;
    }));
    $('community-events').replaceChildren(...items);
  }

  async function answerEvent(eventId, occurrenceId, status) {
    const communityId = state.community;
    try {
      await api('PUT', `/v1/events/${enc(eventId)}/occurrences/${enc(occurrenceId)}/rsvp`, { status });
      if (state.community === communityId) await openCommunity(communityId);
    } catch (error) {
      toast(`Answering failed: ${error.message}`);
    }
  }

  // A channel opens in the room view like any conversation (docs/communities.md#chat-channels).
  function renderChannels(channels) {
    $('community-channels-empty').hidden = channels.length > 0;
    $('community-channels').replaceChildren(...channels.map((channel) => el('li', {
      class: 'room-item',
      'data-testid': 'community-channel',
      'data-room-id': channel.roomId,
      onclick: () => openRoom(channel.roomId),
    },
    el('span', { class: 'room-name', text: `# ${channel.name}` }),
    el('span', { class: 'hint', text: channel.unreadCount ? `${channel.unreadCount} unread` : '' }))));
  }

  function renderTopics(topics) {
    $('community-topics-empty').hidden = topics.length > 0;
    $('community-topics').replaceChildren(...topics.map((topic) => el('li', {
      'data-testid': 'community-topic',
      'data-topic-id': topic.topicId,
    },
    el('div', { class: 'topic-title', text: topic.title }),
    el('div', {
      class: 'topic-meta',
      text: `${topic.announcement ? 'Announcement · ' : ''}${nameOf(topic.authorId)} · ${topic.replyCount || 0} replies${topic.pinned ? ' · pinned' : ''}`,
    }))));
  }

  async function postTopic() {
    const communityId = state.community;
    const title = $('topic-title').value.trim();
    const body = $('topic-body').value.trim();
    if (!communityId || !title || !body) return;
    try {
      const topic = await api('POST', '/v1/topics', { title, body, communityId });
      $('topic-title').value = '';
      $('topic-body').value = '';
      if (topic.status === 'pending') toast('Your topic waits for a moderator\'s approval.');
      const topics = await api('GET', `/v1/topics?community=${enc(communityId)}&limit=20`);
      if (state.community === communityId) renderTopics(topics.items || []);
    } catch (error) {
      toast(`Posting failed: ${error.message}`);
    }
  }

  async function openRoom(roomId) {
    if (state.room && state.room.id === roomId) return;
    closeCommunity();
    closeRoom();
    const room = newRoom(roomId);
    state.room = room;
    const view = $('room');
    view.dataset.roomId = roomId;
    view.dataset.ready = 'false';
    $('room-placeholder').hidden = true;
    $('room-head').hidden = false;
    $('message-scroll').hidden = false;
    $('composer').hidden = false;
    $('messages').replaceChildren();
    $('typing').textContent = '';
    renderInbox();
    try {
      await reloadRoomDetail(room);
      if (state.room !== room) return;
      await syncRoom(room);
      if (state.room !== room) return;
      room.loaded = true;
      view.dataset.ready = 'true';
      // The socket may have opened while the room loaded: its open handler skips a room
      // not loaded yet, and `syncRoom` above found it closed. Subscribe now, or the
      // room would stay without live events until the next reconnect.
      if (socketOpen() && !room.subscribed) {
        syncRoom(room).catch((error) => toast(`Catching up failed: ${error.message}`));
      }
      markReadIfNeeded(room);
      $('composer-input').focus();
    } catch (error) {
      if (state.room === room) toast(`Opening the room failed: ${error.message}`);
    }
  }

  async function reloadRoomDetail(room) {
    const detail = await api('GET', `/v1/rooms/${enc(room.id)}`);
    if (state.room !== room) return;
    room.detail = detail;
    room.members = (detail.members || []).map((m) => m.userId);
    for (const member of detail.members || []) {
      if (member.lastReadMessageId) room.reads.set(member.userId, maxId(room.reads.get(member.userId), member.lastReadMessageId));
      if (member.userId === state.me) room.myLastRead = maxId(room.myLastRead, member.lastReadMessageId);
    }
    const soon = Date.now() + 5000;
    for (const userId of detail.typing || []) {
      if (userId !== state.me) room.typing.set(userId, soon);
    }
    await ensureProfiles(room.members);
    if (state.room !== room) return;
    renderRoomHead(room);
    renderMessages(room);
    renderTyping(room);
  }

  /**
   * Subscribe first, then read: every message is either in the read or arrives as an
   * event after the ack (docs/chat.md, "No gap on reconnect").
   */
  async function syncRoom(room) {
    if (socketOpen()) {
      try {
        await request('subscribe', { roomId: room.id });
        room.subscribed = true;
      } catch (error) {
        toast(`Live updates are off for this room: ${error.message}`);
      }
    }
    if (state.room !== room) return;
    // Read positions and typing as they are now: a receipt marked before the subscribe
    // ack was pushed to the room's subscribers of that moment, which may not include us.
    if (room.subscribed) await reloadRoomDetail(room);
    if (state.room !== room) return;
    if (room.lastId) {
      const after = room.lastId;
      for (const message of await allPages(`/v1/rooms/${enc(room.id)}/messages?after=${enc(after)}&limit=100`)) {
        addMessage(room, message);
      }
    } else {
      const page = await api('GET', `/v1/rooms/${enc(room.id)}/messages?limit=${HISTORY_PAGE}`);
      for (const message of page.items || []) addMessage(room, message);
      room.olderCursor = page.nextCursor || null;
    }
    if (state.room !== room) return;
    await loadRoomPresence(room);
    renderMessages(room);
    markReadIfNeeded(room);
  }

  async function loadOlder(room) {
    if (!room.olderCursor) return;
    const page = await api('GET', `/v1/rooms/${enc(room.id)}/messages?limit=${HISTORY_PAGE}&cursor=${enc(room.olderCursor)}`);
    if (state.room !== room) return;
    for (const message of page.items || []) addMessage(room, message);
    room.olderCursor = page.nextCursor || null;
    const scroll = $('message-scroll');
    const fromBottom = scroll.scrollHeight - scroll.scrollTop;
    renderMessages(room, { keepScroll: true });
    scroll.scrollTop = scroll.scrollHeight - fromBottom;
  }

  async function loadRoomPresence(room) {
    try {
      const presence = await api('GET', `/v1/rooms/${enc(room.id)}/presence`);
      for (const item of presence.items || []) state.presence.set(item.userId, item.status);
      renderPresence();
    } catch {
      // The dots stay as they were.
    }
  }

  /** Keeps one copy per messageId: the highest version. */
  function addMessage(room, message) {
    const known = room.messages.get(message.messageId);
    if (known && (known.version || 1) > (message.version || 1)) return false;
    room.messages.set(message.messageId, message);
    room.lastId = maxId(room.lastId, message.messageId);
    if (message.senderId === state.me) {
      room.pending.delete(message.clientMessageId);
      // The sender has read their own message.
      room.myLastRead = maxId(room.myLastRead, message.messageId);
    }
    room.typing.delete(message.senderId);
    return true;
  }

  function onMessageEvent(frame) {
    const room = state.room;
    const message = frame.message;
    if (message) updateInboxPreview(frame.roomId || message.roomId, message);
    if (!room || !message || room.id !== (frame.roomId || message.roomId)) {
      refreshInboxSoon();
      return;
    }
    if (addMessage(room, message)) {
      renderMessages(room);
      renderTyping(room);
      markReadIfNeeded(room);
    }
  }

  function updateInboxPreview(roomId, message) {
    const entry = state.rooms.find((r) => r.roomId === roomId);
    if (!entry) {
      refreshInboxSoon();
      return;
    }
    const latest = entry.lastMessage && entry.lastMessage.messageId;
    if (!latest || message.messageId >= latest) {
      entry.lastMessage = {
        messageId: message.messageId,
        senderId: message.senderId,
        text: message.text,
        sentAt: message.sentAt,
        deleted: message.deleted,
      };
      entry.lastMessageAt = message.sentAt;
    }
    renderInbox();
  }

  function onTypingEvent(frame) {
    const room = state.room;
    if (!room || room.id !== frame.roomId || frame.userId === state.me) return;
    if (frame.typing) room.typing.set(frame.userId, frame.expiresAt || Date.now() + 5000);
    else room.typing.delete(frame.userId);
    renderTyping(room);
  }

  function onReadReceipt(frame) {
    const room = state.room;
    if (!room || room.id !== frame.roomId) return;
    room.reads.set(frame.userId, maxId(room.reads.get(frame.userId), frame.messageId));
    if (frame.userId === state.me) room.myLastRead = maxId(room.myLastRead, frame.messageId);
    renderMessages(room);
  }

  /** Marks the newest message read when the room is on screen. */
  function markReadIfNeeded(room) {
    if (state.room !== room || document.visibilityState !== 'visible') return;
    const newest = room.lastId;
    if (!newest || room.myLastRead >= newest || room.markingRead === newest) return;
    room.markingRead = newest;
    const done = (readId) => {
      room.myLastRead = maxId(room.myLastRead, readId || newest);
      room.reads.set(state.me, room.myLastRead);
      const entry = state.rooms.find((r) => r.roomId === room.id);
      if (entry) entry.unreadCount = 0;
      renderInbox();
    };
    const failed = () => { if (room.markingRead === newest) room.markingRead = ''; };
    if (socketOpen()) {
      request('markRead', { roomId: room.id, messageId: newest })
        .then((ack) => done(ack.lastReadMessageId))
        .catch(failed);
    } else {
      api('POST', `/v1/rooms/${enc(room.id)}/read`, { messageId: newest })
        .then(() => done(newest))
        .catch(failed);
    }
  }

  // ---- rendering the room ----------------------------------------------------------

  function renderRoomHead(room) {
    const detail = room.detail;
    if (!detail) return;
    $('room-title').textContent = roomTitle(detail);
    const others = room.members.filter((id) => id !== state.me);
    const dm = detail.kind === 'dm';
    $('room-members').replaceChildren(...others.map((userId) => el('li', { 'data-testid': 'room-member', 'data-user-id': userId },
      el('span', {
        class: 'dot',
        'data-testid': 'presence-dot',
        'data-user-id': userId,
        'data-status': state.presence.get(userId) || 'offline',
        title: state.presence.get(userId) || 'offline',
      }),
      // A direct conversation's title is the other user: say their status instead.
      el('span', {
        class: dm ? 'presence-label' : 'member-name',
        'data-user-id': dm ? userId : null,
        text: dm ? state.presence.get(userId) || 'offline' : nameOf(userId),
      }))));
  }

  function renderMessages(room, { keepScroll = false } = {}) {
    if (state.room !== room) return;
    const scroll = $('message-scroll');
    const atBottom = scroll.scrollHeight - scroll.scrollTop - scroll.clientHeight < 80;
    const group = room.detail && room.detail.kind !== 'dm';
    const sorted = [...room.messages.values()].sort((a, b) => (a.messageId < b.messageId ? -1 : 1));
    const nodes = [];
    let previousSender = '';
    for (const message of sorted) {
      const mine = message.senderId === state.me;
      const classes = ['message', mine ? 'mine' : 'theirs', message.deleted ? 'deleted' : ''].join(' ').trim();
      const showSender = !mine && group && previousSender !== message.senderId;
      previousSender = message.senderId;
      nodes.push(el('li', {
        class: classes,
        'data-testid': 'message',
        'data-message-id': message.messageId,
        'data-sender-id': message.senderId,
        'data-client-message-id': message.clientMessageId,
      },
      showSender ? el('span', { class: 'sender', text: nameOf(message.senderId) }) : null,
      el('span', { class: 'bubble', 'data-testid': 'message-text', text: message.deleted ? 'This message was deleted' : message.text }),
      el('span', { class: 'meta', text: formatTime(message.sentAt) + (message.edited && !message.deleted ? ' · edited' : '') })));
    }
    // My newest stored message gets the receipt: who has read up to it (or further).
    const myNewest = sorted.filter((m) => m.senderId === state.me).pop();
    if (myNewest) {
      const readers = room.members.filter((id) => id !== state.me && (room.reads.get(id) || '') >= myNewest.messageId);
      if (readers.length) {
        const text = room.detail && room.detail.kind === 'dm'
          ? 'Seen'
          : `Seen by ${readers.map(firstName).join(', ')}`;
        const index = nodes.findIndex((n) => n.dataset.messageId === myNewest.messageId);
        nodes.splice(index + 1, 0, el('li', {
          class: 'receipt',
          'data-testid': 'read-receipt',
          'data-message-id': myNewest.messageId,
          'data-readers': readers.join(' '),
          title: `Seen by ${readers.map(nameOf).join(', ')}`,
          text,
        }));
      }
    }
    for (const [clientMessageId, pending] of room.pending) {
      nodes.push(el('li', {
        class: `message mine pending${pending.failed ? ' failed' : ''}`,
        'data-testid': 'message',
        'data-pending': 'true',
        'data-sender-id': state.me,
        'data-client-message-id': clientMessageId,
      },
      el('span', { class: 'bubble', 'data-testid': 'message-text', text: pending.text }),
      pending.failed
        ? el('span', { class: 'meta' }, 'Not sent. ', el('button', {
          type: 'button',
          class: 'link',
          'data-testid': 'retry-send',
          onclick: () => sendPending(room, clientMessageId),
        }, 'Retry'))
        : el('span', { class: 'meta', text: 'sending…' })));
    }
    $('messages').replaceChildren(...nodes);
    $('load-older').hidden = !room.olderCursor;
    if (!keepScroll && atBottom) scroll.scrollTop = scroll.scrollHeight;
  }

  function renderTyping(room) {
    if (state.room !== room) return;
    const now = Date.now();
    for (const [userId, expiresAt] of room.typing) {
      if (expiresAt <= now) room.typing.delete(userId);
    }
    const names = [...room.typing.keys()].map(firstName);
    const node = $('typing');
    node.dataset.users = [...room.typing.keys()].join(' ');
    if (names.length === 0) node.textContent = '';
    else if (names.length === 1) node.textContent = `${names[0]} is typing…`;
    else if (names.length === 2) node.textContent = `${names[0]} and ${names[1]} are typing…`;
    else node.textContent = 'Several people are typing…';
    clearTimeout(room.typingTimer);
    if (room.typing.size) {
      const next = Math.min(...room.typing.values());
      room.typingTimer = setTimeout(() => renderTyping(room), Math.max(50, next - now + 20));
    }
  }

  // ---- composing -------------------------------------------------------------------

  function onComposerInput() {
    const room = state.room;
    const input = $('composer-input');
    input.style.height = 'auto';
    input.style.height = `${input.scrollHeight}px`;
    if (!room || !room.loaded) return;
    if (!input.value.trim()) {
      stopTyping(room);
      return;
    }
    const now = Date.now();
    if (!room.typingActive || now - room.typingSentAt > TYPING_RENEW_MS) {
      room.typingActive = true;
      room.typingSentAt = now;
      request('typing', { roomId: room.id, state: 'start' }).catch(() => {});
    }
    clearTimeout(room.typingIdle);
    room.typingIdle = setTimeout(() => stopTyping(room), TYPING_IDLE_MS);
  }

  function stopTyping(room) {
    clearTimeout(room.typingIdle);
    if (!room.typingActive) return;
    room.typingActive = false;
    request('typing', { roomId: room.id, state: 'stop' }).catch(() => {});
  }

  function sendFromComposer() {
    const room = state.room;
    const input = $('composer-input');
    const text = input.value.trim();
    if (!room || !room.loaded || !text) return;
    input.value = '';
    input.style.height = 'auto';
    stopTyping(room);
    const clientMessageId = newClientMessageId();
    room.pending.set(clientMessageId, { text, failed: false });
    renderMessages(room);
    $('message-scroll').scrollTop = $('message-scroll').scrollHeight;
    sendPending(room, clientMessageId);
  }

  /** Sends (or re-sends: the same clientMessageId is stored once) a pending message. */
  async function sendPending(room, clientMessageId) {
    const pending = room.pending.get(clientMessageId);
    if (!pending) return;
    pending.failed = false;
    renderMessages(room);
    const text = pending.text;
    try {
      if (socketOpen()) {
        const ack = await request('sendMessage', { roomId: room.id, text, clientMessageId });
        // The `message` event may come before or after the ack; either way, one copy.
        if (!room.messages.has(ack.messageId)) {
          addMessage(room, {
            roomId: room.id,
            messageId: ack.messageId,
            seq: ack.seq,
            senderId: state.me,
            text,
            clientMessageId,
            sentAt: ack.sentAt,
            edited: false,
            deleted: false,
            version: 1,
          });
        }
      } else {
        addMessage(room, await api('POST', `/v1/rooms/${enc(room.id)}/messages`, { text, clientMessageId }));
      }
      room.pending.delete(clientMessageId);
      updateInboxPreview(room.id, room.messages.get(room.lastId) || { messageId: room.lastId, senderId: state.me, text, sentAt: new Date().toISOString() });
    } catch (error) {
      pending.failed = true;
      const wait = error.retryAfterSeconds ? ` Try again in ${error.retryAfterSeconds} s.` : '';
      toast(`Not sent: ${error.message}.${wait}`);
    }
    renderMessages(room);
  }

  // ---- wiring ----------------------------------------------------------------------

  function wire() {
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const form = event.target;
      signIn({
        token: form.elements.token.value.trim(),
        api: (form.elements.api.value.trim() || location.origin).replace(/\/+$/, ''),
        ws: form.elements.ws.value.trim(),
      });
    });
    $('sign-out').addEventListener('click', () => signOut());
    $('topic-form').addEventListener('submit', (event) => {
      event.preventDefault();
      postTopic();
    });
    $('follow-community').addEventListener('click', () => toggleFollow());
    $('refresh-inbox').addEventListener('click', () => { loadInbox(); loadConnections(); loadPresence(); });
    $('load-older').addEventListener('click', () => {
      if (state.room) loadOlder(state.room).catch((error) => toast(error.message));
    });
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      sendFromComposer();
    });
    const input = $('composer-input');
    input.addEventListener('input', onComposerInput);
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendFromComposer();
      }
    });
    input.addEventListener('blur', () => { if (state.room) stopTyping(state.room); });
    $('my-presence').addEventListener('change', (event) => {
      request('setPresence', { status: event.target.value })
        .then(() => setPresence(state.me, event.target.value))
        .catch((error) => toast(`Status not changed: ${error.message}`));
    });
    document.addEventListener('visibilitychange', () => {
      if (state.room) markReadIfNeeded(state.room);
    });
  }

  async function start() {
    wire();
    setInterval(() => {
      if (socketOpen()) request('ping').catch(() => {});
    }, KEEPALIVE_MS);
    setInterval(() => {
      if (state.token && document.visibilityState === 'visible') loadInbox();
    }, INBOX_REFRESH_MS);
    const config = await readConfig();
    if (config.token) await signIn(config);
    else await showSignIn(config);
  }

  start();
})();
