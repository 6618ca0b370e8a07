// The UI's language first: it starts in systemLocale() and sets <html lang>.
import './lib/i18n.svelte';
import { applyTheme } from './lib/theme';
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

// The OS's theme until Settings arrive with the person's choice.
applyTheme('system');

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

export default mount(App, { target });
